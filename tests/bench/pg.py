"""PostgreSQL helpers: a fresh schema per server (the tests' helper), and counting events."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import psycopg

from tests.conftest import POSTGRES_ADMIN_URL, postgres_schema_url


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A database URL `...?schema=t_xxx` on a new schema, dropped on exit."""
    urls = postgres_schema_url()
    try:
        yield next(urls)
    finally:
        urls.close()


def schema_of(database_url: str) -> str:
    return parse_qs(urlsplit(database_url).query)["schema"][0]


def admin_connection() -> psycopg.Connection[tuple[object, ...]]:
    """A connection to the test database; hold it, as others' tests may use up the slots."""
    return psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True)


def stored_events(conn: psycopg.Connection[tuple[object, ...]], schema: str, table: str) -> int:
    """How many events `table` (e.g. "secretsyncs_events") in `schema` holds."""
    row = conn.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()
    return int(str(row[0])) if row else 0


def wait_for_connection_slots(needed: int, timeout: float = 300.0) -> float:
    """Wait until PostgreSQL has `needed` free connections (others' tests share it).

    Returns the seconds waited.
    """
    begun = time.monotonic()
    deadline, said = begun + timeout, False
    while True:
        free = _free_slots()
        if free >= needed:
            return time.monotonic() - begun
        if time.monotonic() > deadline:
            raise RuntimeError(f"PostgreSQL has {free} free connections; {needed} needed")
        if not said:
            print(f"  waiting for {needed} free PostgreSQL connections (now {free})",
                  file=sys.stderr, flush=True)
            said = True
        time.sleep(2)


def _free_slots() -> int:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            row = conn.execute(
                "SELECT current_setting('max_connections')::int"
                " - current_setting('superuser_reserved_connections')::int"
                " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
            ).fetchone()
    except psycopg.OperationalError:
        return 0
    return int(row[0]) if row else 0


def events_by_topic(
    conn: psycopg.Connection[tuple[object, ...]], schema: str, table: str
) -> dict[str, int]:
    """How many events of each type (topic) `table` in `schema` holds."""
    rows = conn.execute(
        f'SELECT topic, count(*) FROM "{schema}"."{table}" GROUP BY topic ORDER BY topic'
    ).fetchall()
    return {str(topic): int(str(count)) for topic, count in rows}
