"""`make bench`: run every benchmark once on this machine and write BENCHMARKS.md.

Phase 1, GetSecretSync: our server (SQLite with WARNING and with INFO logging,
PostgreSQL with WARNING) and the echo server, each a subprocess, rounds alternated.
Phase 2, CreateSecretSync on PostgreSQL: our server beside a bare eventsourcing
save loop, rounds alternated. Phase 3, the secret source on PostgreSQL: bulk set of
10,000 secrets and resolve latency. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import grpc

from tests.bench.create_bench import CreateBench, CreatePlan, bench_create
from tests.bench.get_bench import GetRow, GetTarget, bench_get
from tests.bench.machine import machine_facts
from tests.bench.pg import fresh_schema, wait_for_connection_slots
from tests.bench.report import Timing, render
from tests.bench.seed import create_sync, fetch_sync, project_with_folder
from tests.bench.servers import REPO, ServerProcess, start_echo, start_ours
from tests.bench.settings import Settings
from tests.bench.source_bench import SourceBench, bench_source, render_source

# PostgreSQL connections a phase may hold (others' tests share the server): ours has
# four pools that can grow to 12 connections each, plus LISTEN connections; the bare
# loop holds one per thread (16 at most).
GET_PHASE_CONNECTIONS = 50
CREATE_PHASE_CONNECTIONS = 70


def parse_args(argv: list[str]) -> Settings:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per benchmark (medians)")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds before measuring")
    parser.add_argument("--seconds", type=float, default=2.0, help="measured seconds per run")
    parser.add_argument("--output", type=Path, default=REPO / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    return Settings(args.rounds, args.warmup, args.seconds, args.output)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def started(stack: ExitStack, server: ServerProcess) -> ServerProcess:
    stack.callback(server.stop)
    say(f"  started {server.label} (pid {server.process.pid}, port {server.port})")
    return server


def get_phase(settings: Settings, workdir: Path, waits: list[float]) -> tuple[list[GetRow], int]:
    """GetSecretSync rows, and the size in bytes of the response served."""
    with ExitStack() as stack:
        waits.append(wait_for_connection_slots(GET_PHASE_CONNECTIONS))
        pg_url = stack.enter_context(fresh_schema())
        ours = [
            started(stack, start_ours(label, url, level, workdir))
            for label, url, level in (
                ("ours, SQLite, WARNING log", f"sqlite:///{workdir}/bench.sqlite", "WARNING"),
                ("ours, SQLite, INFO log", f"sqlite:///{workdir}/bench-info.sqlite", "INFO"),
                ("ours, PostgreSQL, WARNING log", pg_url, "WARNING"),
            )
        ]
        targets, responses = [], []
        for server in ours:
            with grpc.insecure_channel(server.target) as channel:
                sync_id = create_sync(channel, project_with_folder(channel))
                responses.append(fetch_sync(channel, sync_id))
            targets.append(GetTarget(server.label, server, sync_id))
        response = responses[0]  # the echo server answers what our SQLite server answered
        echo = started(stack, start_echo("echo server", response.SerializeToString(), workdir))
        targets.insert(0, GetTarget(echo.label, echo, targets[0].sync_id))
        say(f"phase 1: GetSecretSync, response {response.ByteSize()} bytes")
        rows = bench_get(targets, (1, 32), settings.rounds, settings.warmup, settings.seconds)
        return rows, response.ByteSize()


def create_phase(settings: Settings, workdir: Path, waits: list[float]) -> CreateBench:
    with ExitStack() as stack:
        waits.append(wait_for_connection_slots(CREATE_PHASE_CONNECTIONS))
        server_url = stack.enter_context(fresh_schema())
        bare_url = stack.enter_context(fresh_schema())
        server = started(stack, start_ours("ours, PostgreSQL, INFO log", server_url, "INFO",
                                           workdir))
        with grpc.insecure_channel(server.target) as channel:
            project_id = project_with_folder(channel)
        say("phase 2: CreateSecretSync on PostgreSQL vs bare save loop")
        plan = CreatePlan(
            in_flights=(1, 16),
            bare_threads=(1, 4, 16),
            rounds=settings.rounds,
            warmup=settings.warmup,
            duration=settings.seconds,
        )
        return bench_create(server, server_url, bare_url, project_id, plan)


def source_phase(settings: Settings, workdir: Path, waits: list[float]) -> SourceBench:
    with ExitStack() as stack:
        waits.append(wait_for_connection_slots(GET_PHASE_CONNECTIONS))
        url = stack.enter_context(fresh_schema())
        server = started(stack, start_ours("ours, PostgreSQL, WARNING log", url, "WARNING",
                                           workdir))
        say("phase 3: the secret source (bulk set, resolve) on PostgreSQL")
        return bench_source(server.target, settings.rounds)


def main(argv: list[str] | None = None) -> None:
    settings = parse_args(sys.argv[1:] if argv is None else argv)
    begun, clock = datetime.now(UTC), time.monotonic()
    facts = machine_facts()
    say(f"benchmarking on {facts['nproc (CPUs usable)']} CPUs; writing {settings.output}")
    waits: list[float] = []
    with tempfile.TemporaryDirectory(prefix="secretsync-bench-") as tmp:
        get_rows, response_bytes = get_phase(settings, Path(tmp), waits)
        create = create_phase(settings, Path(tmp), waits)
        source = source_phase(settings, Path(tmp), waits)
    timing = Timing(begun, time.monotonic() - clock, sum(waits))
    markdown = render(settings, facts, timing, get_rows, response_bytes, create)
    markdown += render_source(source)
    settings.output.write_text(markdown)
    say(f"wrote {settings.output} in {time.monotonic() - clock:.0f} s")


if __name__ == "__main__":
    main()
