"""BENCHMARKS.md: what was measured, how, the numbers, the ratios against the goals, caveats."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tests.bench.create_bench import CreateBench, CreateRow
from tests.bench.get_bench import GetRow
from tests.bench.settings import Settings

GET_GOAL = 0.6  # our GetSecretSync QPS / the echo server's, at the same concurrency
CREATE_GOAL = 0.5  # our CreateSecretSync events/s / the bare save loop's best events/s
ECHO = "echo server"


@dataclass(frozen=True)
class Timing:
    begun: datetime
    elapsed: float  # seconds, the whole run
    waited: float  # seconds of it spent waiting for PostgreSQL connection slots


def render(
    settings: Settings,
    facts: dict[str, str],
    timing: Timing,
    get_rows: list[GetRow],
    response_bytes: int,
    create: CreateBench,
    extra_goals: Sequence[str] = (),
) -> str:
    """Every section; `extra_goals` are later phases' rows for the goals table."""
    parts = [
        _header(settings, facts, timing),
        _summary(get_rows, create, extra_goals),
        _get_section(settings, get_rows, response_bytes),
        _create_section(settings, create),
        _observations(get_rows, create),
        _caveats(facts),
    ]
    return "\n".join(parts)


def render_partial(
    settings: Settings, facts: dict[str, str], timing: Timing, goals: Sequence[str]
) -> str:
    """The header and goals table of a run without phases 1 and 2 (`--only`)."""
    return "\n".join([_header(settings, facts, timing), *_goals_table(goals), ""])


def _goals_table(rows: Sequence[str]) -> list[str]:
    return [
        "## Ratios against the goals",
        "",
        "| goal | measured | ratio | verdict |",
        "| --- | --- | --- | --- |",
        *rows,
    ]


def _verdict(ratio: float, goal: float) -> str:
    return "met" if ratio >= goal else "**missed**"


def _echo_qps(rows: list[GetRow], in_flight: int) -> float:
    return next((r.qps for r in rows if r.label == ECHO and r.in_flight == in_flight), 0.0)


def _get_ratio(rows: list[GetRow], row: GetRow) -> float:
    echo = _echo_qps(rows, row.in_flight)
    return row.qps / echo if echo else 0.0


def _best_bare(create: CreateBench) -> float:
    return max((b.events_per_second for b in create.bare), default=0.0)


def _header(settings: Settings, facts: dict[str, str], timing: Timing) -> str:
    waited = (
        f" ({timing.waited:.0f} s of it waiting for free PostgreSQL connections)"
        if timing.waited >= 1
        else ""
    )
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (= `.venv/bin/python -m tests.bench`; code in `tests/bench/`)."
        f" Run started {timing.begun:%Y-%m-%d %H:%M} UTC and took {timing.elapsed:.0f} s"
        f"{waited}. Every number below comes from that one run on the machine described here;"
        " rerun to refresh.",
        "",
        f"Each benchmark ran {settings.rounds} rounds, the servers/loops alternating within a"
        f" round; each run is {settings.warmup:g} s of warm-up then {settings.seconds:g} s"
        " measured. Tables show the median over the rounds.",
        "",
        "| machine | |",
        "| --- | --- |",
        *(f"| {key} | {value} |" for key, value in facts.items()),
        "",
    ]
    return "\n".join(lines)


def _summary(get_rows: list[GetRow], create: CreateBench, extra_goals: Sequence[str]) -> str:
    lines = _goals_table([])
    echo_rows = {r.in_flight: r for r in get_rows if r.label == ECHO}
    for row in get_rows:
        if row.label == ECHO:
            continue
        ratio = _get_ratio(get_rows, row)
        lines.append(
            f"| GetSecretSync QPS >= {GET_GOAL}x echo: {row.label}, {row.in_flight} in flight"
            f" | {row.qps:,.0f} vs {echo_rows[row.in_flight].qps:,.0f} QPS"
            f" | {ratio:.2f} | {_verdict(ratio, GET_GOAL)} |"
        )
    best = _best_bare(create)
    for row in create.ours:
        ratio = row.events_per_second / best if best else 0.0
        lines.append(
            f"| CreateSecretSync events/s >= {CREATE_GOAL}x bare save loop:"
            f" is_enabled={str(row.is_enabled).lower()}, {row.in_flight} in flight"
            f" | {row.events_per_second:,.0f} vs {best:,.0f} events/s"
            f" | {ratio:.2f} | {_verdict(ratio, CREATE_GOAL)} |"
        )
    lines += [
        *extra_goals,
        "",
        "The create ratio compares **events/s** (events our creates wrote, counted in the"
        " event table, per second) with the best bare loop's events/s; a create writes"
        " several events in one transaction, so see creates/s beside it below.",
        "",
    ]
    return "\n".join(lines)


def _get_section(settings: Settings, rows: list[GetRow], response_bytes: int) -> str:
    lines = [
        "## 1. GetSecretSync: our server vs a trivial echo server",
        "",
        "**What.** `GetSecretSync` by id, over and over, of one existing sync"
        " (`is_enabled=true`, so its sync job fields are set), on loopback TCP.",
        "",
        "**How.** Every server is its own subprocess (so the load generator's GIL does not"
        " starve it): ours is `python -m service serve --dev --listen 127.0.0.1:PORT"
        " --database-url ...` (development mode, `SECRET_SYNC_AUTH=off`: calls carry no"
        " credentials) on a new SQLite file or a new PostgreSQL schema, with"
        " `SECRET_SYNC_LOG_LEVEL=WARNING` (no per-call log line) or `INFO` (the default: one"
        " log line per call, to a file). The **echo server** (`tests/bench/echo_server.py`)"
        " is a plain `grpc.server` with the same settings as ours (ThreadPoolExecutor of 64"
        " workers, 256 concurrent calls, 32 MiB messages) whose GetSecretSync returns a fixed"
        f" GetSecretSyncResponse: the bytes our server returned for that sync ({response_bytes}"
        " bytes), parsed once at start. It has no interceptor, no logging, no health or"
        " reflection service, no storage and no conversion: it is the cost of gRPC itself."
        " The load generator (one process, one channel per server) keeps 1 call in flight"
        " (blocking calls from one thread) or 32 (`.future()` calls, each completion starting"
        " the next). Latency is from starting a call to its completion in the client."
        " *Server CPU* is the server process's user+system CPU time in the window divided by"
        " the calls completed.",
        "",
        "| server | in flight | QPS | QPS min-max | p50 ms | p99 ms | server CPU ms/call"
        " | server cores busy | QPS / echo | echo CPU / ours CPU |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in sorted(rows, key=lambda r: (r.in_flight, r.label != ECHO)):
        echo = _find(rows, ECHO, row.in_flight)
        ratio, cpu_ratio = "-", "-"
        if row.label != ECHO and echo and row.server_cpu_ms:
            ratio = f"{_get_ratio(rows, row):.2f}"
            cpu_ratio = f"{echo.server_cpu_ms / row.server_cpu_ms:.2f}"
        lines.append(
            f"| {row.label} | {row.in_flight} | {row.qps:,.0f} | {row.qps_min:,.0f}-"
            f"{row.qps_max:,.0f} | {row.p50_ms:.2f} | {row.p99_ms:.2f} | {row.server_cpu_ms:.3f}"
            f" | {_cores(row):.2f} | {ratio} | {cpu_ratio} |"
        )
    errors = sum(r.errors for r in rows)
    lines += [
        "",
        f"Calls measured: {sum(r.calls for r in rows):,}; errors: {errors}. *Server cores busy*"
        " = QPS x CPU per call: a Python server gets about one core (the GIL) plus some"
        " work in gRPC's C threads, so a value near 1 or above means it was saturated."
        " *Echo CPU / ours CPU* is the ratio of server capacity per core, whatever the"
        " client could push.",
        "",
    ]
    return "\n".join(lines)


def _cores(row: GetRow) -> float:
    return row.qps * row.server_cpu_ms / 1000


def _create_section(settings: Settings, create: CreateBench) -> str:
    best = _best_bare(create)
    lines = [
        "## 2. CreateSecretSync on PostgreSQL vs a bare eventsourcing save loop",
        "",
        "**What.** Ours: `CreateSecretSync` calls with unique names in one project (which has"
        " environment `dev` and folder `/my-secrets`), with `is_enabled=false` and with"
        " `is_enabled=true` (which also requests a first sync job), 1 or 16 in flight, to our"
        " server subprocess on a new PostgreSQL schema (default INFO logging). A create"
        " validates, reads the source folder, records the sync and its name claim in one"
        " transaction, then waits until the read model has projected it (read-your-writes)"
        " before answering. *Events/create* is counted: rows added to `secretsyncs_events`"
        " divided by creates completed.",
        "",
        "**Baseline.** A bare `eventsourcing` Application (`tests/bench/baseline.py`) in the"
        " benchmark process, on its own new schema of the same PostgreSQL, same library,"
        " one pooled connection per thread, saving new aggregates that have one event each"
        " (`app.save(Note())`: one INSERT, one transaction) in a loop from 1, 4 or 16"
        " threads. No gRPC, validation, name claim, projection or waiting. The best thread"
        f" count is the baseline: **{best:,.0f} events/s** (= saves/s = transactions/s).",
        "",
        "| bare save loop threads | events/s | CPU ms/save (benchmark process) |",
        "| ---: | ---: | ---: |",
        *(
            f"| {b.threads} | {b.events_per_second:,.0f} | {b.cpu_ms_per_save:.2f} |"
            for b in create.bare
        ),
        "",
        "| ours | in flight | creates/s | events/create | events/s | p50 ms | p99 ms"
        " | server CPU ms/create | events/s / bare best | creates/s / bare best |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in create.ours:
        lines.append(_create_line(row, best))
    errors = sum(r.errors for r in create.ours)
    lines += [
        "",
        f"Errors: {errors}. The goal compares the events/s column; creates/s divided by the"
        " bare loop's saves/s is the stricter, per-transaction comparison.",
        "",
        f"Events our server stored in this phase, by type ({create.creates[False]:,} creates"
        f" with is_enabled=false, {create.creates[True]:,} with is_enabled=true):",
        "",
        "| event type | count |",
        "| --- | ---: |",
        *(f"| `{topic}` | {count:,} |" for topic, count in create.topics.items()),
        "",
    ]
    return "\n".join(lines)


def _create_line(row: CreateRow, best: float) -> str:
    return (
        f"| is_enabled={str(row.is_enabled).lower()} | {row.in_flight}"
        f" | {row.creates_per_second:,.0f} | {row.events_per_create:.2f}"
        f" | {row.events_per_second:,.0f} | {row.p50_ms:.1f} | {row.p99_ms:.1f}"
        f" | {row.server_cpu_ms:.2f} | {row.events_per_second / best if best else 0:.2f}"
        f" | {row.creates_per_second / best if best else 0:.2f} |"
    )


def _find(rows: list[GetRow], word: str, in_flight: int) -> GetRow | None:
    return next((r for r in rows if word in r.label and r.in_flight == in_flight), None)


def _observations(get_rows: list[GetRow], create: CreateBench) -> str:
    lines = ["## Where the time goes (derived from the numbers above)", ""]
    for n in (1, 32):
        echo, warn = _find(get_rows, ECHO, n), _find(get_rows, "SQLite, WARNING", n)
        info, pg = _find(get_rows, "SQLite, INFO", n), _find(get_rows, "PostgreSQL", n)
        if not (echo and warn and info and pg):
            continue
        lines.append(
            f"- Get, {n} in flight: our server burns {warn.server_cpu_ms:.3f} ms CPU per call"
            f" on SQLite vs {echo.server_cpu_ms:.3f} ms for the echo server"
            f" ({warn.server_cpu_ms - echo.server_cpu_ms:+.3f} ms: interceptor, validation,"
            f" view read, decoding and conversion). INFO logging changes CPU per call by"
            f" {info.server_cpu_ms - warn.server_cpu_ms:+.3f} ms and QPS"
            f" by {_change(info.qps, warn.qps)}; PostgreSQL instead of SQLite changes QPS by"
            f" {_change(pg.qps, warn.qps)} ({pg.server_cpu_ms:.3f} ms CPU per call)."
        )
    for n in (32,):
        echo, warn = _find(get_rows, ECHO, n), _find(get_rows, "SQLite, WARNING", n)
        if echo and warn:
            lines.append(
                f"- Get, {n} in flight: our SQLite server kept {_cores(warn):.2f} cores busy"
                f" (one core of Python under the GIL, plus gRPC's own C threads, is about all"
                f" one process gets), the echo server"
                f" {_cores(echo):.2f}. Below ~0.9 for the echo server means the load generator,"
                " not the echo server, set its pace, so the QPS ratio flatters us; the"
                f" CPU-per-call ratio ({echo.server_cpu_ms / warn.server_cpu_ms:.2f}) does not."
            )
    lines += _create_observations(create)
    lines.append("")
    return "\n".join(lines)


def _create_observations(create: CreateBench) -> list[str]:
    lines = []
    bare = {b.threads: b for b in create.bare}
    rows = {(r.is_enabled, r.in_flight): r for r in create.ours}
    one, many = rows.get((False, 1)), rows.get((False, 16))
    if one and 1 in bare:
        lines.append(
            f"- Create, 1 in flight: a bare save takes about"
            f" {1000 / bare[1].events_per_second:.1f} ms and {bare[1].cpu_ms_per_save:.2f} ms"
            f" of CPU; a create (is_enabled=false) answers in {one.p50_ms:.1f} ms (p50) and"
            f" costs {one.server_cpu_ms:.2f} ms of server CPU"
            f" ({one.server_cpu_ms / one.events_per_create:.2f} ms per event written), the"
            f" rest ({max(0.0, one.p50_ms - one.server_cpu_ms):.1f} ms) being waits: gRPC,"
            " database round trips, and the read-your-writes wait for the projection."
        )
    if one and many:
        cores = many.creates_per_second * many.server_cpu_ms / 1000
        verdict = (
            "close to the one core a Python process can use (the GIL), with PostgreSQL and"
            " the client sharing the other CPU time, so at this concurrency creates are"
            " CPU-bound in the server: its CPU per create is the cost to cut"
            if cores >= 0.7
            else "well below one core, so creates queue behind a serial stage (database"
            " commits, or the projection that every create waits for)"
        )
        lines.append(
            f"- Create, 1 -> 16 in flight: creates/s go from {one.creates_per_second:.0f} to"
            f" {many.creates_per_second:.0f} while p50 latency goes from {one.p50_ms:.0f} to"
            f" {many.p50_ms:.0f} ms. At 16 in flight the server kept {cores:.2f} cores busy"
            f" (creates/s x CPU per create): {verdict}."
        )
    return lines


def _change(value: float, reference: float) -> str:
    return f"{(value / reference - 1) * 100:+.0f}%" if reference else "n/a"


def _caveats(facts: dict[str, str]) -> str:
    cpus = facts.get("nproc (CPUs usable)", "?")
    return "\n".join(
        [
            "## Caveats",
            "",
            f"- The load generator, the servers and PostgreSQL all share these {cpus} CPUs,"
            " and the machine is shared with other work: the min-max columns show the noise."
            " Ratios measured in the same run are more trustworthy than absolute numbers.",
            "- The load generator is Python too. If it, not the server, is the limit, the echo"
            " server's QPS is understated and the Get ratios are flattering; compare the server"
            " CPU ms/call columns, which do not depend on the client.",
            "- All four Get servers run during the whole Get phase; the idle ones poll their"
            " stores (health check every 0.5 s; the SQLite followers every 0.2 s), a small"
            " background load.",
            "- The echo server has no interceptor, health or reflection service: the ratio"
            " includes everything the service adds to a bare gRPC handler.",
            "- The bare save loop runs in the benchmark process with no network hop except to"
            " PostgreSQL; our creates cross gRPC, and each waits for its projection.",
            "",
        ]
    )


def splice_sections(existing: str, sections: str) -> str:
    """`existing` with each numbered top-level section of `sections` ("## 6. ...", up to
    the next "## ") put in place of the section of the same number, or appended; the rest
    of `existing` (header, goals, other sections) is kept as it was."""
    kept = _blocks(existing)
    for block in _blocks(sections):
        number = _section_number(block)
        if number is None:
            continue
        block = block.rstrip("\n") + "\n\n"  # a blank line before the next heading
        at = next((i for i, old in enumerate(kept) if _section_number(old) == number), None)
        if at is None:
            kept[-1] = kept[-1].rstrip("\n") + "\n\n"
            kept.append(block)
        else:
            kept[at] = block
    return "".join(kept).rstrip("\n") + "\n"


def _blocks(markdown: str) -> list[str]:
    """The text before the first "## " heading, then one string per "## " section."""
    blocks: list[str] = [""]
    for line in markdown.splitlines(keepends=True):
        if line.startswith("## "):
            blocks.append("")
        blocks[-1] += line
    if not blocks[-1].endswith("\n"):
        blocks[-1] += "\n"
    return blocks


def _section_number(block: str) -> str | None:
    first = block.split(" ", 2)
    if block.startswith("## ") and len(first) > 1 and first[1].rstrip(".").isdigit():
        return first[1].rstrip(".")
    return None
