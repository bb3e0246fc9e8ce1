"""ListAuditEvents latency over gRPC with a small and a large audit history.

One server subprocess per history (each on its own schema, loaded by
tests/bench/history_data.py), both running during the whole measurement; rounds
alternate which store goes first. Each measurement is AUDIT_CALLS blocking calls
one after another (1 in flight) after AUDIT_WARMUP_CALLS unmeasured ones; latency is
the client's, from the call's start to its answer.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import grpc
from hanzo.kms.secretsync.v1 import audit_service_pb2 as audit_api
from hanzo.kms.secretsync.v1 import audit_service_pb2_grpc as audit_grpc

from tests.bench.history_data import AuditHistory
from tests.bench.load import median, percentile
from tests.bench.servers import ServerProcess

AUDIT_CALLS = 200
AUDIT_WARMUP_CALLS = 20
WALK_PAGE_SIZE = 500  # the largest page: how the "later page" token is reached
# (label, filtered by the hot resource too, a later page)
KINDS = (
    ("project, first page", False, False),
    ("project, later page", False, True),
    ("project + resource, first page", True, False),
    ("project + resource, later page", True, True),
)


@dataclass
class AuditTarget:
    history: AuditHistory
    server: ServerProcess
    requests: dict[str, audit_api.ListAuditEventsRequest]  # by kind label
    skipped: dict[str, int]  # by kind label: events before the page asked for


@dataclass(frozen=True)
class AuditLatency:
    """Medians over rounds for one kind of query on one history."""

    history_rows: int
    kind: str
    filtered_rows: int  # rows matching the filters
    skipped: int  # newer rows before the page (0 for the first page)
    page_events: int
    p50_ms: float
    p99_ms: float
    server_cpu_ms: float  # the server process's CPU time per call
    calls: int  # measured, all rounds


def prepare(history: AuditHistory, server: ServerProcess) -> AuditTarget:
    """The four requests: first pages, and later pages from the middle of the filtered
    history (newest first), reached by walking it with the largest page size (a
    token is bound to the filters and order, not to the page size)."""
    requests, skipped = {}, {}
    with grpc.insecure_channel(server.target) as channel:
        stub = audit_grpc.AuditServiceStub(channel)
        for label, by_resource, later in KINDS:
            request = audit_api.ListAuditEventsRequest(
                project_id=history.hot_project,
                resource_id=history.hot_resource if by_resource else "",
            )
            total = history.hot_resource_rows if by_resource else history.hot_project_rows
            seen = 0
            if later:
                token = ""
                while seen < total // 2:
                    walk = audit_api.ListAuditEventsRequest()
                    walk.CopyFrom(request)
                    walk.page_size, walk.page_token = WALK_PAGE_SIZE, token
                    page = stub.ListAuditEvents(walk)
                    seen, token = seen + len(page.events), page.next_page_token
                request.page_token = token
            requests[label], skipped[label] = request, seen
    return AuditTarget(history, server, requests, skipped)


def measure(target: AuditTarget, label: str) -> tuple[list[float], float, int]:
    """Latencies (s) of AUDIT_CALLS calls, server CPU seconds, events in the page."""
    request = target.requests[label]
    with grpc.insecure_channel(target.server.target) as channel:
        stub = audit_grpc.AuditServiceStub(channel)
        page = None
        for _ in range(AUDIT_WARMUP_CALLS):
            page = stub.ListAuditEvents(request)
        assert page is not None
        _check(page, target, label)
        latencies = []
        cpu = target.server.cpu_seconds()
        for _ in range(AUDIT_CALLS):
            start = time.perf_counter()
            stub.ListAuditEvents(request)
            latencies.append(time.perf_counter() - start)
        cpu = target.server.cpu_seconds() - cpu
    return latencies, cpu, len(page.events)


def _check(page: audit_api.ListAuditEventsResponse, target: AuditTarget, label: str) -> None:
    """The page is what was asked for: full, filtered, newest first."""
    request = target.requests[label]
    positions = [e.position for e in page.events]
    if len(positions) != 50 or positions != sorted(positions, reverse=True):
        raise RuntimeError(f"{label}: unexpected page of {len(positions)} events")
    if any(e.project_id != request.project_id for e in page.events) or (
        request.resource_id and any(e.resource_id != request.resource_id for e in page.events)
    ):
        raise RuntimeError(f"{label}: the page holds events of other resources")


def bench_audit(targets: list[AuditTarget], rounds: int) -> list[AuditLatency]:
    runs: dict[tuple[int, str], list[tuple[list[float], float, int]]] = {}
    for round_number in range(1, rounds + 1):
        order = targets if round_number % 2 else list(reversed(targets))
        for target in order:
            for label, _, _ in KINDS:
                latencies, cpu, events = measure(target, label)
                runs.setdefault((target.history.rows, label), []).append((latencies, cpu, events))
                print(
                    f"  audit round {round_number} {target.history.rows:>9,} events, {label:<31}"
                    f" p50 {percentile(latencies, 50) * 1000:6.2f} ms,"
                    f" p99 {percentile(latencies, 99) * 1000:6.2f} ms",
                    file=sys.stderr,
                    flush=True,
                )
    by_rows = {t.history.rows: t for t in targets}
    return [_summarize(by_rows[rows], label, measured) for (rows, label), measured in runs.items()]


def _summarize(
    target: AuditTarget, label: str, runs: list[tuple[list[float], float, int]]
) -> AuditLatency:
    history = target.history
    by_resource = "resource" in label
    return AuditLatency(
        history_rows=history.rows,
        kind=label,
        filtered_rows=history.hot_resource_rows if by_resource else history.hot_project_rows,
        skipped=target.skipped[label],
        page_events=min(events for _, _, events in runs),
        p50_ms=median([percentile(lat, 50) * 1000 for lat, _, _ in runs]),
        p99_ms=median([percentile(lat, 99) * 1000 for lat, _, _ in runs]),
        server_cpu_ms=median([cpu * 1000 / len(lat) for lat, cpu, _ in runs]),
        calls=sum(len(lat) for lat, _, _ in runs),
    )
