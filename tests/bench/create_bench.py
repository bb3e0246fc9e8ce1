"""CreateSecretSync on PostgreSQL through our server, beside the bare save loop, alternated."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import grpc
import psycopg
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from tests.bench.baseline import BareLoop, BareResult
from tests.bench.load import LoadResult, median, run_load
from tests.bench.pg import admin_connection, events_by_topic, schema_of, stored_events
from tests.bench.seed import unique_name
from tests.bench.servers import ServerProcess
from tests.conftest import create_request

EVENTS_TABLE = "secretsyncs_events"


@dataclass(frozen=True)
class CreatePlan:
    in_flights: tuple[int, ...]  # concurrency of our creates
    bare_threads: tuple[int, ...]  # thread counts of the bare loop
    rounds: int
    warmup: float
    duration: float


@dataclass(frozen=True)
class CreateRow:
    """Medians over rounds for one kind of create at one concurrency."""

    is_enabled: bool
    in_flight: int
    creates_per_second: float
    events_per_create: float  # counted in the event table, not assumed
    p50_ms: float
    p99_ms: float
    server_cpu_ms: float  # server process CPU time per create
    errors: int

    @property
    def events_per_second(self) -> float:
        return self.creates_per_second * self.events_per_create


@dataclass(frozen=True)
class BareRow:
    threads: int
    events_per_second: float  # median over rounds
    cpu_ms_per_save: float  # median over rounds


@dataclass(frozen=True)
class CreateBench:
    ours: list[CreateRow]
    bare: list[BareRow]
    topics: dict[str, int]  # events our server stored in this phase, by type
    creates: dict[bool, int]  # successful creates in this phase, by is_enabled


@dataclass
class _Creates:
    """Our server, a stub to it, and a counter of the events it stored."""

    server: ServerProcess
    stub: api_grpc.SecretSyncServiceStub
    conn: psycopg.Connection[tuple[object, ...]]
    schema: str
    project_id: str
    made: dict[bool, int] = field(default_factory=lambda: {False: 0, True: 0})

    def run(self, is_enabled: bool, in_flight: int, plan: CreatePlan) -> tuple[LoadResult, float]:
        """One timed run of creates with unique names; also events written per create."""
        before = stored_events(self.conn, self.schema, EVENTS_TABLE)

        def issue() -> grpc.Future:
            request = create_request(
                project_id=self.project_id, name=unique_name("c"), is_enabled=is_enabled
            )
            return self.stub.CreateSecretSync.future(request)

        load = run_load(issue, in_flight, plan.warmup, plan.duration,
                        probe=self.server.cpu_seconds)
        written = stored_events(self.conn, self.schema, EVENTS_TABLE) - before
        self.made[is_enabled] += load.total_ok
        return load, written / max(1, load.total_ok)


def bench_create(
    server: ServerProcess, server_url: str, bare_url: str, project_id: str, plan: CreatePlan
) -> CreateBench:
    """Rounds of: the bare loop at each thread count, then our creates (disabled, enabled)."""
    ours: dict[tuple[bool, int], list[tuple[LoadResult, float]]] = {}
    bare: dict[int, list[BareResult]] = {}
    bare_loop = BareLoop(bare_url, max(plan.bare_threads))
    try:
        with grpc.insecure_channel(server.target) as channel, admin_connection() as conn:
            creates = _Creates(server, api_grpc.SecretSyncServiceStub(channel), conn,
                               schema_of(server_url), project_id)
            for round_number in range(1, plan.rounds + 1):
                for threads in plan.bare_threads:
                    result = bare_loop.rate(threads, plan.warmup, plan.duration)
                    bare.setdefault(threads, []).append(result)
                    _say(f"create round {round_number} bare save loop, {threads:>2} threads:"
                         f" {result.events_per_second:7.0f} events/s,"
                         f" {result.cpu_ms_per_save:.2f} ms CPU/save")
                for is_enabled in (False, True):
                    for in_flight in plan.in_flights:
                        load, per = creates.run(is_enabled, in_flight, plan)
                        ours.setdefault((is_enabled, in_flight), []).append((load, per))
                        _say(f"create round {round_number} ours is_enabled={is_enabled!s:<5}"
                             f" in-flight {in_flight:>2}: {load.qps:6.0f} creates/s"
                             f" x {per:.2f} events = {load.qps * per:6.0f} events/s,"
                             f" p50 {load.percentile_ms(50):6.1f} ms, errors {load.errors}")
            topics = events_by_topic(conn, creates.schema, EVENTS_TABLE)
    finally:
        bare_loop.close()
    return CreateBench(
        ours=[_summarize(enabled, n, runs) for (enabled, n), runs in ours.items()],
        bare=[
            BareRow(
                t,
                median([r.events_per_second for r in runs]),
                median([r.cpu_ms_per_save for r in runs]),
            )
            for t, runs in bare.items()
        ],
        topics=topics,
        creates=creates.made,
    )


def _say(text: str) -> None:
    print("  " + text, file=sys.stderr, flush=True)


def _summarize(
    is_enabled: bool, in_flight: int, runs: list[tuple[LoadResult, float]]
) -> CreateRow:
    loads = [load for load, _ in runs]
    return CreateRow(
        is_enabled=is_enabled,
        in_flight=in_flight,
        creates_per_second=median([r.qps for r in loads]),
        events_per_create=median([per for _, per in runs]),
        p50_ms=median([r.percentile_ms(50) for r in loads]),
        p99_ms=median([r.percentile_ms(99) for r in loads]),
        server_cpu_ms=median([r.probe_delta * 1000 / max(1, len(r.latencies)) for r in loads]),
        errors=sum(r.errors for r in loads),
    )
