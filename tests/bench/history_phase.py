"""Phase 5 of `make bench`, on PostgreSQL: the audit log with a long history, the
projection rebuild against a raw read, and writes with 1 and 3 replicas.

Every part runs on fresh schemas, dropped at its end; the parts run one after
another, each waiting for the PostgreSQL connections it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from adapters.envelope import RootKey
from tests.bench.history_audit import AuditLatency, bench_audit, prepare
from tests.bench.history_data import AuditHistory, load_audit_history, write_sync_events
from tests.bench.history_writes import (
    RebuildBench,
    ReplicaPlan,
    ReplicaRow,
    bench_rebuild,
    bench_replicas,
    postgres_connections,
    spawn_server,
)
from tests.bench.pg import fresh_schema, wait_for_connection_slots
from tests.bench.seed import project_with_folder
from tests.bench.settings import Settings

HISTORY_SIZES = (10_000, 1_000_000)
REBUILD_SYNCS = 2_000  # x 10 events each (created, then 3 x requested/started/succeeded)
REPLICA_COUNTS = (1, 3)
REPLICA_IN_FLIGHT = 16
# Every server of this phase gets small pools (each of the many pools of a process
# holds 1 connection, growing by up to 2 under load), as tests/replicas does, so that
# three replicas fit PostgreSQL's default 100 connections: measured, a lone leading
# replica then holds about 30 connections under this load, three replicas about 65.
SMALL_POOLS = "&pool_size=1&max_overflow=2"
# PostgreSQL connections each part may hold: two servers and the loader; three
# replicas under load; the rebuild's pools and one raw reader.
AUDIT_CONNECTIONS = 60
REPLICA_CONNECTIONS = 70
REBUILD_CONNECTIONS = 20


@dataclass(frozen=True)
class HistoryBench:
    histories: list[AuditHistory]
    audit: list[AuditLatency]
    rebuild: RebuildBench
    replicas: list[ReplicaRow]
    replica_plan: ReplicaPlan
    audit_connections: int  # held by the two audit servers after their first calls


def run_history(
    settings: Settings, workdir: Path, waits: list[float], say: Callable[[str], None]
) -> HistoryBench:
    say("phase 5: history on PostgreSQL (audit queries, rebuild, replicas)")
    histories, audit, audit_connections = _audit_part(settings, workdir, waits, say)
    rebuild = _rebuild_part(settings, waits, say)
    plan = ReplicaPlan(
        REPLICA_COUNTS, REPLICA_IN_FLIGHT, settings.rounds, settings.warmup, settings.seconds
    )
    waits.append(wait_for_connection_slots(REPLICA_CONNECTIONS))
    with fresh_schema() as url:
        replicas = bench_replicas(
            url + SMALL_POOLS, workdir, RootKey.generate_text(), plan, project_with_folder, say
        )
    return HistoryBench(histories, audit, rebuild, replicas, plan, audit_connections)


def _audit_part(
    settings: Settings, workdir: Path, waits: list[float], say: Callable[[str], None]
) -> tuple[list[AuditHistory], list[AuditLatency], int]:
    waits.append(wait_for_connection_slots(AUDIT_CONNECTIONS))
    with ExitStack() as stack:
        targets, histories = [], []
        for rows in HISTORY_SIZES:
            url = stack.enter_context(fresh_schema())
            history = load_audit_history(url, rows)
            histories.append(history)
            say(
                f"  audit: loaded {rows:,} audit rows ({history.table_mib:,.0f} MiB with"
                f" indexes) in {history.seconds:.1f} s"
            )
            server = spawn_server(
                f"audit {rows}", url + SMALL_POOLS, RootKey.generate_text(), workdir
            )
            stack.callback(server.stop)
            server.wait_ready()
            targets.append(prepare(history, server))
        held = postgres_connections([t.server.process.pid for t in targets])
        return histories, bench_audit(targets, settings.rounds), held


def _rebuild_part(
    settings: Settings, waits: list[float], say: Callable[[str], None]
) -> RebuildBench:
    waits.append(wait_for_connection_slots(REBUILD_CONNECTIONS))
    with fresh_schema() as url:
        return bench_rebuild(
            url, lambda: write_sync_events(url, REBUILD_SYNCS), settings.rounds, say
        )
