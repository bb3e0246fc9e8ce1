"""A PostgreSQL connection of our own, outside the eventsourcing library's pools.

For what a pooled connection cannot do: hold a session advisory lock (leadership), or
make a table before the library's stores open (the store key)."""

from __future__ import annotations

import psycopg


def session(
    env: dict[str, str], purpose: str, connect_timeout: int = 10
) -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection to the store of `env` (the library's POSTGRES_* settings),
    named `secretsync-<purpose>` in pg_stat_activity."""
    return psycopg.connect(
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        dbname=env["POSTGRES_DBNAME"],
        user=env["POSTGRES_USER"],
        password=env.get("POSTGRES_PASSWORD") or None,
        autocommit=True,
        connect_timeout=connect_timeout,
        application_name=f"secretsync-{purpose}",
    )
