"""The history phase's write side: the rebuild's replay rate beside a raw read of the
same events table, and CreateSecretSync events/s with 1 and with 3 replicas.

Replicas are `python -m service serve` processes on one schema, as in
tests/replicas/test_replicas.py: one root key, each its own port, jobs and metrics
off. The first one started holds the leadership (it advances the projections); the
others serve and write, and notice the view's progress by polling it.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import psycopg
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from service.runtime.config import Config
from service.views.rebuild import rebuild
from tests.bench.history_data import BENCH_ROOT_KEY
from tests.bench.load import LoadResult, median, percentile, run_load
from tests.bench.pg import admin_connection, schema_of, stored_events
from tests.bench.seed import unique_name
from tests.bench.servers import REPO, ServerProcess, free_port
from tests.conftest import POSTGRES_ADMIN_URL, create_request

EVENTS_TABLE = "secretsyncs_events"
ELECTED = "this replica now advances the projections"  # service/views/leadership.py's log line


def spawn_server(label: str, database_url: str, root_key: str, workdir: Path) -> ServerProcess:
    """`python -m service serve --dev` on a free port (not waited for: see wait_ready).

    Development mode with authentication off: these benchmarks call without
    credentials (development mode changes nothing else on these paths).
    """
    env = {
        **os.environ,
        "SECRET_SYNC_LOG_LEVEL": "INFO",  # the default
        "SECRET_SYNC_RUN_JOBS": "0",
        "SECRET_SYNC_METRICS_LISTEN": "off",
        "SECRET_SYNC_AUTH": "off",
        "SECRET_SYNC_ROOT_KEY": root_key,
    }
    port = free_port()
    log_path = workdir / f"{label.replace(' ', '_').replace(',', '')}.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service",
            "serve",
            "--dev",
            "--listen",
            f"127.0.0.1:{port}",
            "--database-url",
            database_url,
        ],
        cwd=REPO,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    return ServerProcess(label, process, port, log_path, log_file)


def leads(server: ServerProcess) -> bool:
    return ELECTED in server.log_path.read_text(errors="replace")


def machine_jiffies() -> tuple[int, int, int]:
    """(busy, total) CPU time of the whole machine so far, in clock ticks, and its CPUs
    (/proc/stat)."""
    lines = Path("/proc/stat").read_text().splitlines()
    fields = [int(x) for x in lines[0].split()[1:9]]
    idle = fields[3] + fields[4]  # idle + iowait
    cpus = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    return sum(fields) - idle, sum(fields), cpus


def postgres_connections(pids: list[int], port: int = 5432) -> int:
    """Established TCP connections to PostgreSQL's port that these processes hold (Linux
    /proc: their sockets' inodes, looked up in the kernel's TCP tables)."""
    inodes = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    held = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                if remote_port == port and fields[3] == "01" and fields[9] in inodes:
                    held += 1
    return held


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


# --- rebuild against a raw read -------------------------------------------------------


@dataclass(frozen=True)
class RebuildRun:
    rebuild_seconds: float  # service.views.rebuild.rebuild(config), start to end
    rebuild_cpu_seconds: float  # this process's CPU time meanwhile (the rebuild runs here)
    raw_seconds: float  # SELECT * of the events table, every row fetched
    raw_rows: int
    raw_mib: float  # bytes of the `state` column fetched


@dataclass(frozen=True)
class RebuildBench:
    events: int  # in the events table: every one a SecretSync event
    syncs: int  # rows the rebuilt view holds
    write_seconds: float  # to write the events (batched saves in this process)
    runs: list[RebuildRun]

    def rebuild_rate(self) -> float:
        return self.events / median([r.rebuild_seconds for r in self.runs])

    def raw_rate(self) -> float:
        return median([r.raw_rows / r.raw_seconds for r in self.runs])

    def cpu_share(self) -> float:
        """The share of the rebuild's wall time this process spent on a CPU."""
        return median([r.rebuild_cpu_seconds / r.rebuild_seconds for r in self.runs])


def raw_read(database_url: str) -> tuple[float, int, float]:
    """Seconds to SELECT and fetch every row (all columns) in log order; rows; MiB."""
    table = f'"{schema_of(database_url)}".{EVENTS_TABLE}'
    with psycopg.connect(POSTGRES_ADMIN_URL) as conn:
        start = time.perf_counter()
        rows = conn.execute(f"SELECT * FROM {table} ORDER BY notification_id").fetchall()
        seconds = time.perf_counter() - start
        column = next(
            i
            for i, c in enumerate(conn.execute(f"SELECT * FROM {table} LIMIT 0").description or [])
            if c.name == "state"
        )
    size = sum(len(row[column]) for row in rows) / (1 << 20)
    return seconds, len(rows), size


def timed_rebuild(database_url: str) -> tuple[float, float, int]:
    """Seconds `python -m service rebuild` spends in rebuild() (its progress bar hidden),
    CPU seconds of this process meanwhile, and the syncs rebuilt."""
    start, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stderr(io.StringIO()):
        syncs = rebuild(Config(database_url=database_url, root_key=BENCH_ROOT_KEY))
    return time.perf_counter() - start, time.process_time() - cpu, syncs


def bench_rebuild(
    database_url: str, write: Callable[[], int], rounds: int, say: Callable[[str], None]
) -> RebuildBench:
    start = time.perf_counter()
    events = write()
    write_seconds = time.perf_counter() - start
    say(f"  rebuild: wrote {events:,} sync events in {write_seconds:.1f} s")
    runs, syncs = [], 0
    for round_number in range(1, rounds + 1):
        if round_number % 2:
            seconds, cpu, syncs = timed_rebuild(database_url)
            raw = raw_read(database_url)
        else:
            raw = raw_read(database_url)
            seconds, cpu, syncs = timed_rebuild(database_url)
        runs.append(RebuildRun(seconds, cpu, *raw))
        say(
            f"  rebuild round {round_number}: rebuild {events / seconds:7,.0f} events/s"
            f" ({seconds:.1f} s), raw read {raw[1] / raw[0]:9,.0f} rows/s ({raw[0]:.2f} s)"
        )
    return RebuildBench(events, syncs, write_seconds, runs)


# --- writes with 1 and 3 replicas ----------------------------------------------------


@dataclass(frozen=True)
class ReplicaRun:
    replicas: int
    load: LoadResult
    events_per_create: float
    cpu_seconds: float  # all replicas' CPU time in the window
    machine_cores: float  # CPUs the whole machine kept busy in the window (everyone's)
    connections: int  # to PostgreSQL, held by all replicas at the window's end
    leader_ms: list[float]  # latencies of calls the leader answered (whole run)
    others_ms: list[float]  # of calls the other replicas answered


@dataclass(frozen=True)
class ReplicaRow:
    """Medians over rounds for one replica count."""

    replicas: int
    creates_per_second: float
    events_per_create: float
    p50_ms: float
    p99_ms: float
    leader_p50_ms: float
    others_p50_ms: float  # 0 with one replica
    cpu_ms_per_create: float  # all replicas together
    machine_cores: float  # CPUs the whole machine kept busy (PostgreSQL, client, others)
    connections: int  # to PostgreSQL, all replicas at a window's end, the most of the rounds
    errors: int

    @property
    def events_per_second(self) -> float:
        return self.creates_per_second * self.events_per_create


@dataclass
class _Writers:
    """Replicas of one store, the project creates go to, and the event counter."""

    database_url: str
    root_key: str
    workdir: Path
    project_id: str = ""
    replicas: list[ServerProcess] = field(default_factory=list)

    def grow(self, count: int) -> None:
        """Start replicas until `count` run (together), each ready to serve."""
        new = [
            spawn_server(f"replica {n + 1}", self.database_url, self.root_key, self.workdir)
            for n in range(len(self.replicas), count)
        ]
        self.replicas += new
        for server in new:
            server.wait_ready()
        wait_until(lambda: leads(self.replicas[0]), 30, "the first replica to lead")

    def shrink(self, count: int) -> None:
        while len(self.replicas) > count:
            self.replicas.pop().stop()

    def stop(self) -> None:
        self.shrink(0)

    def run(self, in_flight: int, warmup: float, duration: float) -> ReplicaRun:
        """Creates (is_enabled=false, unique names) spread round-robin over the replicas."""
        replicas = list(self.replicas)
        channels = [grpc.insecure_channel(s.target) for s in replicas]
        stubs = [api_grpc.SecretSyncServiceStub(c) for c in channels]
        turn, lock = itertools.count(), threading.Lock()
        by_replica: list[list[float]] = [[] for _ in replicas]

        def issue() -> grpc.Future:
            with lock:
                index = next(turn) % len(stubs)
            request = create_request(
                project_id=self.project_id, name=unique_name("r"), is_enabled=False
            )
            start = time.perf_counter()
            future = stubs[index].CreateSecretSync.future(request)
            future.add_done_callback(
                lambda _: by_replica[index].append((time.perf_counter() - start) * 1000)
            )
            return future

        machine: list[tuple[int, int, int]] = []
        held: list[int] = []

        def cpu() -> float:  # called at the window's start and end
            machine.append(machine_jiffies())
            held.append(postgres_connections([s.process.pid for s in replicas]))
            return sum(s.cpu_seconds() for s in replicas)

        try:
            with admin_connection() as conn:
                schema = schema_of(self.database_url)
                before = stored_events(conn, schema, EVENTS_TABLE)
                load = run_load(issue, in_flight, warmup, duration, probe=cpu)
                written = stored_events(conn, schema, EVENTS_TABLE) - before
        finally:
            for channel in channels:
                channel.close()
        leader = next((i for i, s in enumerate(replicas) if leads(s)), 0)
        others = [ms for i, lat in enumerate(by_replica) if i != leader for ms in lat]
        (busy0, total0, _), (busy1, total1, cpus) = machine[0], machine[-1]
        cores = (busy1 - busy0) / max(1, total1 - total0) * cpus
        return ReplicaRun(
            len(replicas),
            load,
            written / max(1, load.total_ok),
            load.probe_delta,
            cores,
            held[-1],
            by_replica[leader],
            others,
        )


@dataclass(frozen=True)
class ReplicaPlan:
    counts: tuple[int, ...]  # replica counts, e.g. (1, 3)
    in_flight: int  # calls outstanding in all, spread over the replicas
    rounds: int
    warmup: float
    duration: float


def bench_replicas(
    database_url: str,
    workdir: Path,
    root_key: str,
    plan: ReplicaPlan,
    make_project: Callable[[grpc.Channel], str],
    say: Callable[[str], None],
) -> list[ReplicaRow]:
    """Rounds alternate the order of the replica counts (replicas are started or
    stopped between runs; the first replica runs throughout and leads)."""
    writers = _Writers(database_url, root_key, workdir)
    runs: dict[int, list[ReplicaRun]] = {}
    try:
        writers.grow(1)
        with grpc.insecure_channel(writers.replicas[0].target) as channel:
            writers.project_id = make_project(channel)
        for round_number in range(1, plan.rounds + 1):
            counts = plan.counts if round_number % 2 else tuple(reversed(plan.counts))
            for count in counts:
                writers.shrink(count)
                writers.grow(count)
                run = writers.run(plan.in_flight, plan.warmup, plan.duration)
                runs.setdefault(count, []).append(run)
                say(
                    f"  replicas round {round_number}, {count} replica(s), {plan.in_flight} in"
                    f" flight: {run.load.qps:5.0f} creates/s x {run.events_per_create:.2f}"
                    f" = {run.load.qps * run.events_per_create:5.0f} events/s,"
                    f" p50 {run.load.percentile_ms(50):6.1f} ms, errors {run.load.errors}"
                )
    finally:
        writers.stop()
    return [_replica_row(count, measured) for count, measured in sorted(runs.items())]


def _replica_row(count: int, runs: list[ReplicaRun]) -> ReplicaRow:
    return ReplicaRow(
        replicas=count,
        creates_per_second=median([r.load.qps for r in runs]),
        events_per_create=median([r.events_per_create for r in runs]),
        p50_ms=median([r.load.percentile_ms(50) for r in runs]),
        p99_ms=median([r.load.percentile_ms(99) for r in runs]),
        leader_p50_ms=median([percentile(r.leader_ms, 50) for r in runs]),
        others_p50_ms=median([percentile(r.others_ms, 50) for r in runs]),
        cpu_ms_per_create=median(
            [r.cpu_seconds * 1000 / max(1, len(r.load.latencies)) for r in runs]
        ),
        machine_cores=median([r.machine_cores for r in runs]),
        connections=max(r.connections for r in runs),
        errors=sum(r.load.errors for r in runs),
    )
