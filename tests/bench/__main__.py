"""`make bench`: run every benchmark once on this machine and write BENCHMARKS.md.

Phase 1, GetSecretSync: our server (SQLite with WARNING and with INFO logging,
PostgreSQL with WARNING) and the echo server, each a subprocess, rounds alternated.
Phase 2, CreateSecretSync on PostgreSQL: our server beside a bare eventsourcing
save loop, rounds alternated. Phase 3, the secret source on PostgreSQL: bulk set of
10,000 secrets and resolve latency. Phase 4, Key Vault sync: our worker against the
emulator (20 ms a request, Key Vault's throttling) beside the reference implementation's
way. Phase 5, history on PostgreSQL: audit queries with 10 k and 1 M events, the
rebuild against a raw read, writes with 1 and 3 replicas (tests/bench/history_phase.py).
Phase 6, what security costs: GetSecretSync on SQLite plaintext without authentication,
with a service token, over TLS with a token, and over mutual TLS (security_bench.py).
Phase 7, one vault budget for three replicas on PostgreSQL: three syncs of 400 secrets
into one throttling vault (replicas_bench.py).
Progress goes to stderr. `--only sync` (or api, source, history, security) runs some
phases and prints their report to stdout unless --output is given, so BENCHMARKS.md
keeps the full run; with --replace-sections their sections replace the same sections
of BENCHMARKS.md (or --output) and the rest of the file stays as it was.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc

from tests.bench.create_bench import CreateBench, CreatePlan, bench_create
from tests.bench.get_bench import GetRow, GetTarget, bench_get
from tests.bench.history_phase import HistoryBench, run_history
from tests.bench.history_report import history_goals, render_history
from tests.bench.machine import machine_facts
from tests.bench.pg import fresh_schema, wait_for_connection_slots
from tests.bench.replicas_bench import (
    ReplicasBench,
    bench_replicas,
    render_replicas,
    replicas_goals,
)
from tests.bench.report import Timing, render, render_partial, splice_sections
from tests.bench.security_bench import bench_security
from tests.bench.security_report import render_security
from tests.bench.seed import create_sync, fetch_sync, project_with_folder
from tests.bench.servers import REPO, ServerProcess, start_echo, start_ours
from tests.bench.settings import Settings
from tests.bench.source_bench import SourceBench, bench_source, render_source
from tests.bench.sync_bench import SyncBench, SyncSettings, bench_sync
from tests.bench.sync_report import render_sync, sync_goals

# PostgreSQL connections a phase may hold (others' tests share the server): ours has
# four pools that can grow to 12 connections each, plus LISTEN connections; the bare
# loop holds one per thread (16 at most).
GET_PHASE_CONNECTIONS = 50
CREATE_PHASE_CONNECTIONS = 70
# api = phases 1 and 2 (Get, Create); security = phase 6
PHASES = ("api", "source", "sync", "history", "security", "replicas")


@dataclass(frozen=True)
class Choice:
    phases: tuple[str, ...]
    sync_rounds: int
    to_stdout: bool  # a partial run without --output: do not overwrite BENCHMARKS.md
    splice: bool  # a partial run whose sections replace theirs in the output file
    command: str  # how this run was started, for sections that quote it


def parse_args(argv: list[str]) -> tuple[Settings, Choice]:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per benchmark (medians)")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds before measuring")
    parser.add_argument("--seconds", type=float, default=2.0, help="measured seconds per run")
    parser.add_argument("--output", type=Path, default=None, help="default: BENCHMARKS.md")
    parser.add_argument("--only", action="append", choices=PHASES, help="repeatable")
    parser.add_argument(
        "--sync-rounds",
        type=int,
        default=None,
        help="rounds of phase 4 (about 90 s each); default: --rounds",
    )
    parser.add_argument(
        "--replace-sections",
        action="store_true",
        help="with --only: put the phases' sections in place of theirs in BENCHMARKS.md"
        " (or --output), keeping the rest; not with api (its sections are the file's frame)",
    )
    args = parser.parse_args(argv)
    phases = tuple(p for p in PHASES if p in (args.only or PHASES))
    settings = Settings(
        args.rounds, args.warmup, args.seconds, args.output or REPO / "BENCHMARKS.md"
    )
    splice = args.replace_sections and phases != PHASES
    if splice and "api" in phases:
        parser.error("--replace-sections cannot be used with --only api")
    to_stdout = args.output is None and phases != PHASES and not splice
    command = " ".join([".venv/bin/python -m tests.bench", *map(shlex.quote, argv)])
    if not argv:
        command = "make bench"
    return settings, Choice(phases, args.sync_rounds or args.rounds, to_stdout, splice, command)


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
        server = started(
            stack, start_ours("ours, PostgreSQL, INFO log", server_url, "INFO", workdir)
        )
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
        server = started(
            stack, start_ours("ours, PostgreSQL, WARNING log", url, "WARNING", workdir)
        )
        say("phase 3: the secret source (bulk set, resolve) on PostgreSQL")
        return bench_source(server.target, settings.rounds)


def sync_phase(rounds: int, workdir: Path) -> SyncBench:
    say(f"phase 4: Key Vault sync, ours vs the reference way, {rounds} round(s)")
    return bench_sync(SyncSettings(rounds=rounds), workdir, say)


def security_phase(settings: Settings, workdir: Path, command: str) -> str:
    """Phase 6 rendered: it quotes its own command and time, as it may be spliced."""
    begun, clock = datetime.now(UTC), time.monotonic()
    say("phase 6: what security costs, GetSecretSync with token, TLS, mutual TLS")
    with ExitStack() as stack:
        rows = bench_security(settings, workdir, lambda server: started(stack, server))
    return render_security(rows, settings, command, begun, time.monotonic() - clock)


def main(argv: list[str] | None = None) -> None:
    settings, choice = parse_args(sys.argv[1:] if argv is None else argv)
    begun, clock = datetime.now(UTC), time.monotonic()
    facts = machine_facts()
    where = "stdout" if choice.to_stdout else settings.output
    say(
        f"benchmarking on {facts['nproc (CPUs usable)']} CPUs; phases {choice.phases};"
        f" writing {where}"
    )
    waits: list[float] = []
    api, source, sync = None, None, None
    history: HistoryBench | None = None
    security = ""
    replicas: ReplicasBench | None = None
    with tempfile.TemporaryDirectory(prefix="secretsync-bench-") as tmp:
        if "api" in choice.phases:
            api = (*get_phase(settings, Path(tmp), waits), create_phase(settings, Path(tmp), waits))
        if "source" in choice.phases:
            source = source_phase(settings, Path(tmp), waits)
        if "sync" in choice.phases:
            sync = sync_phase(choice.sync_rounds, Path(tmp))
        if "history" in choice.phases:
            history = run_history(settings, Path(tmp), waits, say)
        if "security" in choice.phases:
            security = security_phase(settings, Path(tmp), choice.command)
        if "replicas" in choice.phases:
            say("phase 7: one vault budget for three replicas on PostgreSQL")
            replicas = bench_replicas(Path(tmp), say)
    timing = Timing(begun, time.monotonic() - clock, sum(waits))
    goals: Sequence[str] = [
        *(sync_goals(sync) if sync else ()),
        *(history_goals(history) if history else ()),
        *(replicas_goals(replicas) if replicas else ()),
    ]
    if api:
        markdown = render(settings, facts, timing, *api, extra_goals=goals)
    else:
        markdown = render_partial(settings, facts, timing, goals)
    markdown += render_source(source) if source else ""
    markdown += render_sync(sync) if sync else ""
    markdown += render_history(history, settings.rounds) if history else ""
    markdown += security
    markdown += render_replicas(replicas, choice.command) if replicas else ""
    if choice.to_stdout:
        print(markdown)
    elif choice.splice:
        settings.output.write_text(splice_sections(settings.output.read_text(), markdown))
    else:
        settings.output.write_text(markdown)
    say(f"wrote {where} in {time.monotonic() - clock:.0f} s")


if __name__ == "__main__":
    main()
