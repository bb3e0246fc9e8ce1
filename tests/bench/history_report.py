"""BENCHMARKS.md section 5 and its goal rows: the audit log with a long history, the
rebuild against a raw read, writes with 1 and 3 replicas."""

from __future__ import annotations

import os

from tests.bench.history_audit import AUDIT_CALLS, AUDIT_WARMUP_CALLS, KINDS, AuditLatency
from tests.bench.history_data import AUDIT_DATA
from tests.bench.history_phase import REBUILD_SYNCS, SMALL_POOLS, HistoryBench
from tests.bench.history_writes import ReplicaRow
from tests.bench.load import median

AUDIT_GOAL = 2.0  # p50 with the large history / p50 with the small one, at most
REBUILD_GOAL = 0.3  # rebuild events/s / raw read rows/s, at least


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _pairs(bench: HistoryBench) -> list[tuple[str, AuditLatency, AuditLatency]]:
    """(kind, small history's row, large history's row) for each kind of query."""
    small, large = (h.rows for h in bench.histories)
    found = {(a.history_rows, a.kind): a for a in bench.audit}
    return [(kind, found[small, kind], found[large, kind]) for kind, _, _ in KINDS]


def _replicas(bench: HistoryBench) -> tuple[ReplicaRow, ReplicaRow]:
    rows = sorted(bench.replicas, key=lambda r: r.replicas)
    return rows[0], rows[-1]


def _rows(count: int) -> str:
    return f"{count // 1_000_000:,} M" if count >= 1_000_000 else f"{count // 1000:,} k"


def history_goals(bench: HistoryBench) -> list[str]:
    """Rows for the "Ratios against the goals" table."""
    small, large = (h.rows for h in bench.histories)
    lines = []
    for kind, a, b in _pairs(bench):
        ratio = b.p50_ms / a.p50_ms if a.p50_ms else 0.0
        lines.append(
            f"| ListAuditEvents p50 with {_rows(large)} events <= {AUDIT_GOAL:g}x with"
            f" {_rows(small)}: {kind} | {b.p50_ms:.2f} vs {a.p50_ms:.2f} ms | {ratio:.2f}"
            f" | {_met(ratio <= AUDIT_GOAL)} |"
        )
    rebuild = bench.rebuild
    ratio = rebuild.rebuild_rate() / rebuild.raw_rate() if rebuild.raw_rate() else 0.0
    lines.append(
        f"| Rebuild events/s >= {REBUILD_GOAL}x a raw read of the events table (rows/s)"
        f" | {rebuild.rebuild_rate():,.0f} vs {rebuild.raw_rate():,.0f} | {ratio:.3f}"
        f" | {_met(ratio >= REBUILD_GOAL)} |"
    )
    one, many = _replicas(bench)
    scale = many.events_per_second / one.events_per_second if one.events_per_second else 0.0
    lines.append(
        f"| Event writes with {many.replicas} replicas vs 1 (reported, no goal)"
        f" | {many.events_per_second:,.0f} vs {one.events_per_second:,.0f} events/s"
        f" | {scale:.2f} | - |"
    )
    return lines


def render_history(bench: HistoryBench, rounds: int) -> str:
    return "\n".join(
        [
            "",
            "## 5. History on PostgreSQL: audit queries, rebuild, replicas",
            "",
            "Command: `make bench` (all phases), or `.venv/bin/python -m tests.bench --only"
            f" history` (this phase alone, to stdout). Rounds: {rounds}; medians over rounds."
            " Servers are `python -m service serve --dev` subprocesses (development mode"
            " with `SECRET_SYNC_AUTH=off`: calls carry no credentials; jobs and /metrics"
            " off; INFO log, the default), each on a fresh schema of the same PostgreSQL,"
            f" with small pools (`{SMALL_POOLS.lstrip('&')}` in the database URL, as"
            " tests/replicas does) so that three replicas fit PostgreSQL's default 100"
            " connections.",
            "",
            *_audit_section(bench),
            *_rebuild_section(bench),
            *_replica_section(bench),
        ]
    )


def _audit_section(bench: HistoryBench) -> list[str]:
    small, large = (h.rows for h in bench.histories)
    lines = [
        f"### 5a. ListAuditEvents with {_rows(small)} and with {_rows(large)} events",
        "",
        "**What.** `ListAuditEvents` of the hot project, newest first, 50 events a page"
        " (the default): its first page, and a later page (the page token of the middle of"
        " the filtered history, reached by walking it 500 at a time); the same filtered by"
        " the hot secret sync's `resource_id` too. Two servers run side by side, one per"
        f" history; rounds alternate which goes first. Each measurement: {AUDIT_WARMUP_CALLS}"
        f" unmeasured calls, then {AUDIT_CALLS} blocking calls one after another (1 in"
        " flight) over loopback gRPC; latency is the client's. Every page was checked:"
        " 50 events, newest first, only the filtered project / resource. The two servers"
        f" held {bench.audit_connections} PostgreSQL connections together.",
        "",
        f"**Data.** Written straight into PostgreSQL, not through the API: {AUDIT_DATA}",
        "",
        "| history | audit rows | projects | hot project rows | hot sync rows"
        " | load time | table + indexes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {_rows(h.rows)} | {h.rows:,} | {h.projects:,} | {h.hot_project_rows:,}"
            f" | {h.hot_resource_rows:,} | {h.seconds:.1f} s | {h.table_mib:,.0f} MiB |"
            for h in bench.histories
        ),
        "",
        f"| query | newer events skipped ({_rows(small)} / {_rows(large)})"
        f" | p50 {_rows(small)} | p50 {_rows(large)} | p50 ratio"
        f" | p99 {_rows(small)} | p99 {_rows(large)}"
        f" | server CPU ms/call ({_rows(small)} / {_rows(large)}) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, a, b in _pairs(bench):
        lines.append(
            f"| {kind} | {a.skipped:,} / {b.skipped:,} | {a.p50_ms:.2f} ms | {b.p50_ms:.2f} ms"
            f" | {b.p50_ms / a.p50_ms if a.p50_ms else 0:.2f} | {a.p99_ms:.2f} ms"
            f" | {b.p99_ms:.2f} ms | {a.server_cpu_ms:.2f} / {b.server_cpu_ms:.2f} |"
        )
    worst = max(b.p50_ms / a.p50_ms for _, a, b in _pairs(bench) if a.p50_ms)
    cpu_ms = median([x.server_cpu_ms for x in bench.audit])
    p50_ms = median([x.p50_ms for x in bench.audit])
    lines += [
        "",
        f"The hot project's own history is 100 times longer in the {_rows(large)} store"
        f" ({bench.histories[-1].table_mib:,.0f} MiB of table and indexes), and the worst"
        f" p50 ratio is {worst:.2f}: each filter is an index range scan that starts at the"
        " page token's position (keyset paging) and stops after 51 rows, whatever the"
        f" history's length. Of a call's {p50_ms:.2f} ms (median of the p50s above), the"
        f" server spends {cpu_ms:.2f} ms of CPU (median): turning 51 rows into messages"
        " (each row's JSON summary parsed) and gRPC; PostgreSQL's query, the client and"
        " the network share the rest.",
        "",
    ]
    return lines


def _rebuild_section(bench: HistoryBench) -> list[str]:
    rebuild = bench.rebuild
    ratio = rebuild.rebuild_rate() / rebuild.raw_rate()
    per_event_ms = 1000 / rebuild.rebuild_rate()
    runs = ", ".join(f"{r.rebuild_seconds:.1f} s" for r in rebuild.runs)
    raws = ", ".join(f"{r.raw_seconds:.2f} s" for r in rebuild.runs)
    mib = rebuild.runs[0].raw_mib
    return [
        "### 5b. Projection rebuild against a raw read of the events table",
        "",
        f"**Data.** {REBUILD_SYNCS:,} secret syncs, each created and then synced three times"
        " (sync requested, job started, job succeeded; the first job records 10 managed"
        " secrets), made with the domain's commands (`SecretSync.create`, `request_sync`,"
        " `start_job`, `succeed_job`) and saved by the service's `SecretSyncs` application"
        f" in batches of 100 syncs: {rebuild.events:,} events, written in"
        f" {rebuild.write_seconds:.1f} s.",
        "",
        "**What.** *Rebuild*: `service.views.rebuild.rebuild(config)` in the benchmark process,"
        " what `python -m service rebuild` runs: empty the secret_syncs view, replay every"
        " event into it, return when it has caught up; timed start to end. *Raw read*:"
        " `SELECT * FROM secretsyncs_events ORDER BY notification_id` with psycopg on one"
        f" connection, every row fetched into Python (all columns; {mib:.1f} MiB of"
        " `state`). Rounds alternate which goes first.",
        "",
        "| measurement | result | runs |",
        "| --- | ---: | --- |",
        f"| rebuild | **{rebuild.rebuild_rate():,.0f} events/s** ({per_event_ms:.2f} ms an"
        f" event; {rebuild.syncs:,} syncs in the view) | {runs} |",
        f"| raw read | **{rebuild.raw_rate():,.0f} rows/s** | {raws} |",
        f"| rebuild / raw read | **{ratio:.3f}** (goal >= {REBUILD_GOAL}) | |",
        "",
        "Why the gap: the raw read is one query streaming rows, turned into tuples in C."
        " The rebuild (service/views/rebuild.py `replay`) runs the live projection's step"
        " (`domain.sync_record.apply_event`) on records kept in memory, not on aggregates:"
        " no managed keys are built or encoded; a thread reads and opens (decrypts,"
        " decompresses) the next batch of 2,000 events while this one is applied, and"
        " each batch's changed rows are written with its position in one transaction."
        " What is left is Python work per event that holds the interpreter's lock:"
        " transcoding each stored event (JSON with the library's object hook, object"
        " building) and applying it. The rebuild's"
        f" process was on a CPU {rebuild.cpu_share():.0%} of its wall time"
        f" ({rebuild.cpu_share() * per_event_ms:.2f} of the {per_event_ms:.2f} ms an event).",
        "",
    ]


def _replica_section(bench: HistoryBench) -> list[str]:
    plan = bench.replica_plan
    one, many = _replicas(bench)
    lines = [
        "### 5c. Event writes with 1 and with 3 replicas",
        "",
        f"**What.** `CreateSecretSync` (`is_enabled=false`, unique names, one project)"
        f" with {plan.in_flight} calls in flight in all, sent round-robin to the replicas;"
        f" {plan.warmup:g} s warm-up then {plan.duration:g} s measured. Replicas are"
        " `python -m service serve` processes on one schema with one root key, as in"
        " tests/replicas/test_replicas.py; the first one started leads (it advances the"
        " projections; the others notice the view's progress by polling it every 50 ms)"
        " and runs throughout, the other two are started or stopped between runs; rounds"
        " alternate the order. Events are counted in `secretsyncs_events`."
        " *CPU ms/create* is every replica's CPU time in the window per create; *cores"
        " busy (replicas)* = creates/s x that; *CPUs busy (machine)* is the whole"
        " machine's (/proc/stat) in the window: replicas, PostgreSQL, the load generator"
        " and anyone else's work; *connections held* counts the replicas' established"
        " connections to PostgreSQL at a window's end (the most of the rounds).",
        "",
        "| replicas | creates/s | events/create | events/s | p50 ms | p99 ms"
        " | p50 ms, leader's calls | p50 ms, other replicas' calls | CPU ms/create"
        " | cores busy (replicas) | CPUs busy (machine) | PostgreSQL connections held |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in sorted(bench.replicas, key=lambda r: r.replicas):
        others = f"{row.others_p50_ms:.1f}" if row.replicas > 1 else "-"
        lines.append(
            f"| {row.replicas} | {row.creates_per_second:,.0f} | {row.events_per_create:.2f}"
            f" | {row.events_per_second:,.0f} | {row.p50_ms:.1f} | {row.p99_ms:.1f}"
            f" | {row.leader_p50_ms:.1f} | {others} | {row.cpu_ms_per_create:.2f}"
            f" | {_cores(row):.2f} | {row.machine_cores:.2f} | {row.connections} |"
        )
    ratio = many.events_per_second / one.events_per_second if one.events_per_second else 0.0
    lines += [
        "",
        f"Errors: {sum(r.errors for r in bench.replicas)}. {many.replicas} replicas vs 1:"
        f" **{ratio:.2f}x** the events/s. {_replica_reading(one, many)}",
        "",
    ]
    return lines


def _cores(row: ReplicaRow) -> float:
    return row.creates_per_second * row.cpu_ms_per_create / 1000


def _replica_reading(one: ReplicaRow, many: ReplicaRow) -> str:
    cpus = len(os.sched_getaffinity(0))
    single = f"One replica kept {_cores(one):.2f} cores busy" + (
        ": about the one core a Python process gets (the GIL), so it was CPU-bound in its"
        " own process."
        if _cores(one) >= 0.8
        else "."
    )
    multi = (
        f" {many.replicas} replicas together kept {_cores(many):.2f} cores busy, at"
        f" {many.cpu_ms_per_create:.2f} ms of CPU a create ({one.cpu_ms_per_create:.2f} ms"
        f" with one). The whole machine was busy {many.machine_cores:.2f} of its {cpus} CPUs"
        f" ({one.machine_cores:.2f} with one replica): PostgreSQL, the load generator and"
        " whatever else runs share them with the replicas."
    )
    if many.machine_cores >= 0.85 * cpus:
        limit = (
            f" So the machine's {cpus} CPUs set the limit, not the service: more processes"
            " can only use what is left of them, and three replicas cannot approach three"
            " times one here."
        )
    else:
        limit = (
            " The machine had CPU time left, so something else (waits on PostgreSQL, the"
            " projection all writers wait for) limited the extra replicas."
        )
    wait = (
        " A create answered by a non-leader waits for the leader's projection and sees it"
        f" by polling the view (p50 {many.others_p50_ms:.1f} ms against"
        f" {many.leader_p50_ms:.1f} ms for the leader's own creates)."
    )
    return single + multi + limit + wait
