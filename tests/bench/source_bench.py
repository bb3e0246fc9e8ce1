"""The secret source on PostgreSQL: bulk-set 10,000 secrets, and resolve latency.

Bulk set: BulkSetSecrets of 10,000 new secrets into an empty folder, one call,
timed end to end by the client (validation, encryption of every value, one
event, read-your-writes). Resolve: ResolveSecrets of a folder that resolves to
1,000 keys through 3 levels of imports (/app 250 own keys, 25 of them
referencing /l3, importing /l1 -> /l2 -> /l3, 250 keys each), called repeatedly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import grpc
from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc

from tests.bench.load import median, percentile
from tests.conftest import new_project

BULK_KEYS = 10_000
LEVEL_KEYS = 250
RESOLVE_CALLS = 200
OPTIONS = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length",
                                                       64 << 20)]


@dataclass(frozen=True)
class SourceBench:
    bulk_seconds: list[float]
    resolve_ms: list[float]
    resolved_keys: int

    def bulk_rate(self) -> float:
        return BULK_KEYS / median(self.bulk_seconds)


def _secrets(prefix: str, count: int, value: str = "") -> list[spb.Secret]:
    return [
        spb.Secret(key=f"{prefix}_{i}", value=value or f"value-{prefix}-{i}-" + "x" * 32)
        for i in range(count)
    ]


def bench_source(target: str, rounds: int) -> SourceBench:
    with grpc.insecure_channel(target, options=OPTIONS) as channel:
        folders = (*(f"/bulk{r}" for r in range(rounds)), "/app", "/l1", "/l2", "/l3")
        project_id = new_project(channel, folders=folders)
        stub = sgrpc.SecretSourceServiceStub(channel)

        def bulk(path: str, secrets: list[spb.Secret]) -> float:
            start = time.perf_counter()
            stub.BulkSetSecrets(
                sapi.BulkSetSecretsRequest(
                    project_id=project_id, environment="dev", path=path, secrets=secrets
                )
            )
            return time.perf_counter() - start

        bulk_seconds = [bulk(f"/bulk{r}", _secrets(f"B{r}", BULK_KEYS)) for r in range(rounds)]
        for level in ("l1", "l2", "l3"):
            bulk(f"/{level}", _secrets(level.upper(), LEVEL_KEYS))
        own = _secrets("APP", LEVEL_KEYS - 25) + [
            spb.Secret(key=f"APP_REF_{i}", value=f"ref-${{dev.l3.L3_{i}}}") for i in range(25)
        ]
        bulk("/app", own)
        for importer, imported in (("/app", "/l1"), ("/l1", "/l2"), ("/l2", "/l3")):
            stub.CreateSecretImport(
                sapi.CreateSecretImportRequest(
                    project_id=project_id,
                    environment="dev",
                    path=importer,
                    secret_import=spb.SecretImport(environment="dev", path=imported),
                )
            )
        request = sapi.ResolveSecretsRequest(project_id=project_id, environment="dev", path="/app")
        resolved = stub.ResolveSecrets(request)  # warm-up, and the size check
        latencies = []
        for _ in range(RESOLVE_CALLS):
            start = time.perf_counter()
            stub.ResolveSecrets(request)
            latencies.append((time.perf_counter() - start) * 1000)
        return SourceBench(bulk_seconds, latencies, len(resolved.secrets))


def render_source(bench: SourceBench) -> str:
    p50, p99 = percentile(bench.resolve_ms, 50), percentile(bench.resolve_ms, 99)
    runs = ", ".join(f"{s:.2f} s" for s in bench.bulk_seconds)
    bulk = f"BulkSetSecrets, {BULK_KEYS:,} new secrets in one call (median of runs: {runs})"
    resolve = (
        f"ResolveSecrets, {bench.resolved_keys:,} keys via 3 levels of imports, "
        f"{RESOLVE_CALLS} calls"
    )
    return f"""
## 3. The secret source on PostgreSQL

**What.** {__doc__.split(chr(10), 2)[2].strip()}

| measurement | result |
| --- | --- |
| {bulk} | **{bench.bulk_rate():,.0f} secrets/s** |
| {resolve} | p50 **{p50:.1f} ms**, p99 **{p99:.1f} ms** |

Both go through gRPC to our server subprocess (PostgreSQL, WARNING log). Resolution
decrypts every value it returns (AES-256-GCM) and expands references; it reads the
folders from the event store (through the application's aggregate cache), not from
a view, so a sync always pushes what the store holds at that moment.
"""
