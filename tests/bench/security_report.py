"""BENCHMARKS.md section 6: GetSecretSync with authentication, TLS and mutual TLS, each
against the plaintext, authentication-off baseline of the same run."""

from __future__ import annotations

from datetime import datetime

from tests.bench.get_bench import GetRow
from tests.bench.security_bench import BASELINE, LABELS, MTLS, TLS_TOKEN, TOKEN
from tests.bench.settings import Settings

HEADING = "## 6. What security costs per call: GetSecretSync with a token, TLS, mutual TLS"


def render_security(
    rows: list[GetRow], settings: Settings, command: str, begun: datetime, elapsed: float
) -> str:
    lines = [
        HEADING,
        "",
        "**What.** `GetSecretSync` by id of one existing sync (`is_enabled=true`), as in"
        " section 1, on four servers of the same configuration (`python -m service serve"
        " --dev`, a new SQLite file each, `SECRET_SYNC_LOG_LEVEL=WARNING`) that differ only"
        " in how a caller proves who it is:",
        "",
        f"- **{BASELINE}**: `SECRET_SYNC_AUTH=off`, plaintext; section 1's `ours, SQLite,"
        " WARNING log`.",
        f"- **{TOKEN}**: `SECRET_SYNC_AUTH=required`, plaintext; every call carries"
        " `authorization: Bearer sst_...`, an admin service token made with `python -m"
        " service token create --bootstrap` in the server's store before it started. The"
        " server remembers a token that worked for 2 s (docs/auth.md), so about one call"
        " per 2 s looks it up in the store; the others hash it and hit the cache.",
        f"- **{TLS_TOKEN}**: the same, over TLS (`--tls-cert-file/--tls-key-file`, an"
        " ECDSA P-256 server certificate from a test CA, tests/tls_helpers.py); the client"
        " uses `grpc.ssl_channel_credentials` trusting that CA.",
        f"- **{MTLS}**: TLS with `--tls-client-ca-file` (client certificates required) and"
        " `--tls-client-principals-file`: the client presents a certificate of the test CA"
        " whose DNS name maps to a principal with the admin grant; the calls carry no token.",
        "",
        "**How.** As section 1: each server is its own subprocess, all four run at once, and"
        " each round runs every (in flight, server) pair once, servers alternating; one"
        " channel per server, opened (and its TLS handshake done) before measuring, so these"
        " are per-call costs on an established connection, not connection set-up. Before"
        " measuring, a call without a valid credential is checked to be refused"
        " (`UNAUTHENTICATED`) by each secured server. Ratios compare with the baseline of"
        f" this same run. This section's run: `{command}`, started {begun:%Y-%m-%d %H:%M}"
        f" UTC, {elapsed:.0f} s, {settings.rounds} rounds of {settings.warmup:g} s warm-up +"
        f" {settings.seconds:g} s measured, medians shown. On a shared machine QPS ratios"
        " within the min-max ranges are noise (at 1 in flight the client's own latency"
        " dominates); *CPU/call - baseline* is the steadier measure of what security costs.",
        "",
        "| server | in flight | QPS | QPS min-max | p50 ms | p99 ms | server CPU ms/call"
        " | server cores busy | QPS / baseline | p50 / baseline | CPU/call - baseline ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    ordered = sorted(rows, key=lambda r: (r.in_flight, LABELS.index(r.label)))
    for row in ordered:
        base = _baseline(rows, row.in_flight)
        qps, p50, cpu = "-", "-", "-"
        if row.label != BASELINE and base:
            qps = f"{_ratio(row.qps, base.qps):.2f}"
            p50 = f"{_ratio(row.p50_ms, base.p50_ms):.2f}"
            cpu = f"{row.server_cpu_ms - base.server_cpu_ms:+.3f}"
        lines.append(
            f"| {row.label} | {row.in_flight} | {row.qps:,.0f} | {row.qps_min:,.0f}-"
            f"{row.qps_max:,.0f} | {row.p50_ms:.2f} | {row.p99_ms:.2f}"
            f" | {row.server_cpu_ms:.3f} | {row.qps * row.server_cpu_ms / 1000:.2f}"
            f" | {qps} | {p50} | {cpu} |"
        )
    lines += [
        "",
        f"Calls measured: {sum(r.calls for r in rows):,}; errors: {sum(r.errors for r in rows)}.",
        "",
        *_summary(rows),
        "",
        "",
    ]
    return "\n".join(lines)


def _summary(rows: list[GetRow]) -> list[str]:
    lines = []
    for label in (TOKEN, TLS_TOKEN, MTLS):
        parts = []
        for n in (1, 32):
            row, base = _row(rows, label, n), _baseline(rows, n)
            if row and base:
                parts.append(
                    f"{_ratio(row.qps, base.qps):.2f}x baseline QPS at {n} in flight"
                    f" ({row.server_cpu_ms - base.server_cpu_ms:+.3f} ms server CPU per call,"
                    f" p50 {row.p50_ms:.2f} vs {base.p50_ms:.2f} ms)"
                )
        if parts:
            lines.append(f"- {label}: " + "; ".join(parts) + ".")
    return lines


def _row(rows: list[GetRow], label: str, in_flight: int) -> GetRow | None:
    return next((r for r in rows if r.label == label and r.in_flight == in_flight), None)


def _baseline(rows: list[GetRow], in_flight: int) -> GetRow | None:
    return _row(rows, BASELINE, in_flight)


def _ratio(value: float, reference: float) -> float:
    return value / reference if reference else 0.0
