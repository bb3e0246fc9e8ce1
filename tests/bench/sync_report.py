"""BENCHMARKS.md section 4: the Key Vault sync, ours against the lower bound and the reference."""

from __future__ import annotations

from statistics import median

from tests.bench import reference_sync
from tests.bench.emulator_process import vault_requests
from tests.bench.sync_bench import Run, SyncBench

INITIAL_GOAL = 1.3  # initial sync wall time / lower bound, at most
NOOP_SLACK = 5  # no-op re-sync requests, at most listing pages + this
MIB = 1024


def _initial(runs: list[tuple[Run, Run]]) -> list[Run]:
    return [initial for initial, _ in runs]


def _noop(runs: list[tuple[Run, Run]]) -> list[Run]:
    return [noop for _, noop in runs]


def _seconds(runs: list[Run]) -> float:
    return median(r.seconds for r in runs)


def _requests(runs: list[Run]) -> float:
    """All requests the emulator saw (the token endpoint's too), median over runs."""
    return median(r.counts.get("total", 0) for r in runs)


def _bound_ratio(bench: SyncBench) -> float:
    return median(r.seconds / bench.settings.lower_bound(r.counts) for r in _initial(bench.ours))


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _kinds(run: Run) -> str:
    counts = run.counts
    kinds = [k for k in sorted(counts) if k != "total"]
    return ", ".join(f"{k} {counts[k]:,}" for k in kinds) or "none"


def _failed(runs: list[Run]) -> int:
    return max((r.failed for r in runs), default=0)


def _throttled(runs: list[Run]) -> int:
    return sum(r.counts.get("throttled", 0) for r in runs)


def sync_goals(bench: SyncBench) -> list[str]:
    """Rows for the "Ratios against the goals" table."""
    ours, ref = bench.ours, bench.reference
    bound = median(bench.settings.lower_bound(r.counts) for r in _initial(ours))
    ratio = _bound_ratio(bench)
    pages = bench.settings.pages
    noop = _requests(_noop(ours))
    failed = _failed(_initial(ours) + _noop(ours))
    return [
        f"| Key Vault initial sync, {bench.settings.secrets:,} secrets, <= {INITIAL_GOAL}x the"
        f" lower bound | {_seconds(_initial(ours)):.1f} s vs {bound:.1f} s | {ratio:.2f}"
        f" | {_verdict(ratio <= INITIAL_GOAL)} |",
        f"| Key Vault no-op re-sync requests <= listing pages + {NOOP_SLACK}"
        f" | {noop:.0f} vs {pages} + {NOOP_SLACK} | {noop / (pages + NOOP_SLACK):.2f}"
        f" | {_verdict(noop <= pages + NOOP_SLACK)} |",
        f"| Key Vault keys failed at the throttle = 0 | {failed}"
        f" (answers 429 received and retried: {_throttled(_initial(ours) + _noop(ours))}) | -"
        f" | {_verdict(failed == 0)} |",
        f"| Key Vault initial sync vs the reference way (reported, no goal)"
        f" | {_seconds(_initial(ours)):.1f} s vs {_seconds(_initial(ref)):.1f} s"
        f" | {_seconds(_initial(ours)) / _seconds(_initial(ref)):.2f} | - |",
    ]


def render_sync(bench: SyncBench) -> str:
    settings, ours, ref = bench.settings, bench.ours, bench.reference
    limit = settings.limit
    rows = [
        _row("initial sync, wall time", _initial(ours), _initial(ref), "s"),
        "| initial sync / lower bound | "
        + " | ".join(
            f"{median(r.seconds / settings.lower_bound(r.counts) for r in _initial(side)):.2f}"
            for side in (ours, ref)
        )
        + " | - |",
        _row("initial sync, requests sent", _initial(ours), _initial(ref), "requests"),
        "| initial sync, secrets written (fewest of the rounds) | "
        + " | ".join(f"{min(r.written for r in _initial(side)):,}" for side in (ours, ref))
        + " | - |",
        _row("no-op re-sync, wall time", _noop(ours), _noop(ref), "s"),
        _row("no-op re-sync, requests sent", _noop(ours), _noop(ref), "requests"),
        f"| keys failed (initial + no-op, worst round) | {_failed(_initial(ours) + _noop(ours))}"
        f" | {_failed(_initial(ref) + _noop(ref))} | - |",
        f"| answers 429 received (all runs) | {_throttled(_initial(ours) + _noop(ours))}"
        f" | {_throttled(_initial(ref) + _noop(ref))} | - |",
        f"| peak memory (RSS high-water mark) | {bench.ours_peak_rss_kib / MIB:.0f} MiB (the"
        f" whole server) | {bench.reference_peak_rss_kib / MIB:.0f} MiB (its process) | - |",
    ]
    return "\n".join(
        [
            "",
            "## 4. Key Vault sync: our worker vs the lower bound and the reference way",
            "",
            f"**What.** {_what()}",
            "",
            f"**Setup.** {settings.secrets:,} secrets (keys `BENCH_SECRET_0000`..., 48-character"
            f" values) in one folder; the Key Vault emulator (`keyvault_emulator`, its own"
            f" process) answers every request after {settings.latency_ms:g} ms and enforces Key"
            f" Vault's documented per-vault limits: {limit.sets} sets and {limit.total:,}"
            f" transactions in all per {limit.window_seconds:g} s (sliding windows), 429 with"
            " Retry-After beyond. **Ours**: `python -m service serve --dev` with its worker on"
            " (SQLite, INFO log, the emulator's CA trusted); over gRPC a project, the secrets"
            " (one BulkSetSecrets), a client-secret connection whose authority is the emulator,"
            " then CreateSecretSync (auto-sync on, initial behaviour overwrite destination):"
            " timed from that call until WatchSecretSync shows the job finished. The no-op"
            " re-sync is TriggerSecretSync on the same sync, nothing changed, timed the same"
            " way. **Reference way**: `tests/bench/reference_sync.py`, timed inside its own"
            " process. Every run starts on an emptied vault with new throttling windows;"
            " request counts are the emulator's.",
            "",
            f"**Lower bound** = max(sets / {limit.sets / limit.window_seconds:g} per s,"
            f" vault requests / {limit.total / limit.window_seconds:g} per s), from the counts of"
            " that run (a set refused with 429 is not counted as a set). Listing pages for"
            f" {settings.secrets:,} secrets: {settings.pages} (25 a page).",
            "",
            f"Command: `make bench` (all phases), or `.venv/bin/python -m tests.bench --only sync`."
            f" Rounds: {len(ours)}, the two sides alternating which goes first; medians shown.",
            "",
            "| measurement | ours | reference way | ours / reference |",
            "| --- | ---: | ---: | ---: |",
            *rows,
            "",
            *_details(bench),
            "",
        ]
    )


def _what() -> str:
    doc = reference_sync.__doc__ or ""
    steps = " ".join(doc.split("\n\n")[1].split())
    return (
        "An initial sync of the same secrets into an empty vault and then a no-op re-sync,"
        " done by our service and, in the same run against the same emulator, the way the"
        f" reference implementation does it. {steps}"
    )


def _row(label: str, ours: list[Run], ref: list[Run], unit: str) -> str:
    if unit == "s":
        a, b = _seconds(ours), _seconds(ref)
        return f"| {label} | {a:.2f} s | {b:.2f} s | {a / b:.2f} |"
    a, b = _requests(ours), _requests(ref)
    return f"| {label} | {a:,.0f} | {b:,.0f} | {a / b:.3f} |"


def _details(bench: SyncBench) -> list[str]:
    lines = [
        "Every run (requests by kind as the emulator counted them; *challenge*,"
        " *throttled* are answers 401 and 429, already counted under their kind):",
        "",
        "| side | run | seconds | requests: vault (all) | by kind | outcome |",
        "| --- | --- | ---: | ---: | --- | --- |",
    ]
    for side, runs in (("ours", bench.ours), ("reference way", bench.reference)):
        for number, pair in enumerate(runs, 1):
            for what, run in zip(("initial", "no-op"), pair, strict=True):
                lines.append(
                    f"| {side} | round {number}, {what} | {run.seconds:.2f}"
                    f" | {vault_requests(run.counts):,} ({run.counts.get('total', 0):,})"
                    f" | {_kinds(run)} | {run.detail} |"
                )
    lines += [
        "",
        f"The reference way's fixed sleep is {reference_sync.FIXED_DELAY_SECONDS:g} s (the"
        " reference's own), up to 6 tries a key, with the SDK's own retries off"
        " (`retry_total=0`) because the reference sends bare HTTP requests; its GETs run"
        " one thread per secret, all at once. A sliding window lets the first"
        f" {bench.settings.limit.sets} sets go at once, so a perfect client finishes an"
        " initial sync a few seconds *under* the lower bound above: ratios just below 1"
        " are possible, not a measuring error.",
    ]
    return lines
