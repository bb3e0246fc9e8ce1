"""GetSecretSync: throughput and latency of each server, rounds alternated, medians kept."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import grpc
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from tests.bench.load import LoadResult, median, run_load
from tests.bench.servers import ServerProcess


@dataclass(frozen=True)
class GetTarget:
    label: str
    server: ServerProcess
    sync_id: str
    # Sent with every call, e.g. (("authorization", "Bearer sst_..."),); none by default.
    metadata: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class GetRow:
    """Medians over rounds for one server at one concurrency."""

    label: str
    in_flight: int
    qps: float
    qps_min: float
    qps_max: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms: float  # server process CPU time per call
    calls: int  # measured calls, all rounds
    errors: int


def bench_get(
    targets: list[GetTarget],
    in_flights: tuple[int, ...],
    rounds: int,
    warmup: float,
    duration: float,
) -> list[GetRow]:
    """Each round runs every (concurrency, server) pair once, servers alternating."""
    results: dict[tuple[str, int], list[LoadResult]] = {}
    channels = {t.label: t.server.channel() for t in targets}
    try:
        for round_number in range(1, rounds + 1):
            for in_flight in in_flights:
                for target in targets:
                    result = _one(target, channels[target.label], in_flight, warmup, duration)
                    results.setdefault((target.label, in_flight), []).append(result)
                    print(
                        f"  get round {round_number} {target.label:<32} in-flight {in_flight:>2}:"
                        f" {result.qps:7.0f} qps, p50 {result.percentile_ms(50):6.2f} ms,"
                        f" p99 {result.percentile_ms(99):6.2f} ms, errors {result.errors}",
                        file=sys.stderr,
                    )
    finally:
        for channel in channels.values():
            channel.close()
    return [_summarize(label, n, runs) for (label, n), runs in results.items()]


def _one(
    target: GetTarget, channel: grpc.Channel, in_flight: int, warmup: float, duration: float
) -> LoadResult:
    stub = api_grpc.SecretSyncServiceStub(channel)
    request = api.GetSecretSyncRequest(id=target.sync_id)
    metadata = target.metadata or None
    return run_load(
        lambda: stub.GetSecretSync.future(request, metadata=metadata),
        in_flight,
        warmup,
        duration,
        probe=target.server.cpu_seconds,
    )


def _summarize(label: str, in_flight: int, runs: list[LoadResult]) -> GetRow:
    qps = [r.qps for r in runs]
    return GetRow(
        label=label,
        in_flight=in_flight,
        qps=median(qps),
        qps_min=min(qps),
        qps_max=max(qps),
        p50_ms=median([r.percentile_ms(50) for r in runs]),
        p99_ms=median([r.percentile_ms(99) for r in runs]),
        server_cpu_ms=median([r.probe_delta * 1000 / max(1, len(r.latencies)) for r in runs]),
        calls=sum(len(r.latencies) for r in runs),
        errors=sum(r.errors for r in runs),
    )
