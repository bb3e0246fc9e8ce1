"""The event store's key: made once per database, kept there wrapped by the root key.

One row in a table of its own, beside the events. Replicas starting together each
offer a freshly made key with an insert that does nothing if a row is there, then
all read the one row that won. Rotating the root key re-wraps this row (a
compare-and-set update); the store key itself never changes, so no event is
rewritten. The unwrapped key is returned to the caller and never stored or logged.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from typing import Any

from psycopg import errors as pg_errors

from adapters.envelope import KEY_BYTES, RootKey
from adapters.postgres_session import session

TABLE = "secret_sync_store_key"
WRAPPING_AAD = b"event-store-key"
WHAT = "the event store's key"

Run = Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]


def load_store_key(env: dict[str, str], root_key: RootKey) -> bytes:
    """The store key of the database `env` names, made (wrapped by the primary) if none."""
    with _database(env) as run:
        offered = root_key.wrap(os.urandom(KEY_BYTES), WRAPPING_AAD)
        run(
            f"INSERT INTO {_table(env)} (id, wrapped) VALUES (1, {_mark(env)}) "
            "ON CONFLICT DO NOTHING",
            (offered,),
        )
        wrapped = _wrapped(env, run)
    return root_key.unwrap(wrapped, WRAPPING_AAD, WHAT)


def rewrap_store_key(env: dict[str, str], root_key: RootKey) -> bool:
    """Wrap the store key by the primary root key; False if it already was."""
    with _database(env) as run:
        wrapped = _wrapped(env, run)
        if root_key.is_primary(wrapped):
            return False
        rewrapped = root_key.wrap(root_key.unwrap(wrapped, WRAPPING_AAD, WHAT), WRAPPING_AAD)
        m = _mark(env)
        # Compare-and-set: a concurrent re-wrap by the same primary is as good.
        run(
            f"UPDATE {_table(env)} SET wrapped = {m} WHERE id = 1 AND wrapped = {m}",
            (rewrapped, wrapped),
        )
        return True


def store_key_wrapped_by_primary(env: dict[str, str], root_key: RootKey) -> bool:
    with _database(env) as run:
        return root_key.is_primary(_wrapped(env, run))


def _wrapped(env: dict[str, str], run: Run) -> str:
    rows = run(f"SELECT wrapped FROM {_table(env)} WHERE id = 1", ())
    return str(rows[0][0])


def _postgres(env: dict[str, str]) -> bool:
    return env["PERSISTENCE_MODULE"].endswith("postgres")


def _mark(env: dict[str, str]) -> str:
    return "%s" if _postgres(env) else "?"


def _table(env: dict[str, str]) -> str:
    if _postgres(env):
        return f'"{env.get("POSTGRES_SCHEMA") or "public"}".{TABLE}'
    return TABLE


@contextmanager
def _database(env: dict[str, str]) -> Iterator[Run]:
    """A connection of its own (autocommit), the table made if need be."""
    if _postgres(env):
        with _postgres_connection(env) as run:
            yield run
        return
    with closing(sqlite3.connect(env["SQLITE_DBNAME"], timeout=30, isolation_level=None)) as db:

        def run(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
            return db.execute(sql, params).fetchall()

        run(
            f"CREATE TABLE IF NOT EXISTS {TABLE} "
            "(id INTEGER PRIMARY KEY CHECK (id = 1), wrapped TEXT NOT NULL)",
            (),
        )
        yield run


@contextmanager
def _postgres_connection(env: dict[str, str]) -> Iterator[Run]:
    with session(env, "store-key") as db:

        def run(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
            cursor = db.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

        # IF NOT EXISTS races with another process making it at the same moment.
        with suppress(pg_errors.UniqueViolation, pg_errors.DuplicateTable):
            run(
                f"CREATE TABLE IF NOT EXISTS {_table(env)} "
                "(id integer PRIMARY KEY CHECK (id = 1), wrapped text NOT NULL)",
                (),
            )
        yield run
