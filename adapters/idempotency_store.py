"""Where idempotent calls keep their first answer: one row per (method, request id).

A row is first a reservation (no response yet), made by an insert that only one
caller can win; the winner runs the call and stores its response, or releases
the row if the call failed, so a retry may run it again. Rows live beside the
event store, in the same database.

A reservation names its owner, the replica running the call. A reservation whose owner is
gone (its process died: on SQLite any other process, the store being one process's; on
PostgreSQL one whose replica session ended, adapters/replica_session.py) is taken over at
once by a retry, not after the stale time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

TABLE = "idempotent_calls"


@dataclass(frozen=True)
class Prior:
    """What an earlier call with the same request id left."""

    fingerprint: str
    response: bytes | None  # None while that call is still running
    reserved_at: float
    owner: str = ""  # the replica running it ("" in rows older than owners)


class IdempotencyStore(ABC):
    mark = "?"  # the driver's parameter marker
    owner = ""  # this replica: set by the subclass' constructor

    def gone(self, owner: str) -> bool:
        """Whether `owner`'s process is dead (its reservations are free to take)."""
        return False

    @abstractmethod
    def _run(self, sql: str, params: tuple[Any, ...]) -> tuple[int, list[tuple[Any, ...]]]:
        """Run one statement in its own transaction: (rows changed, rows returned)."""

    @property
    @abstractmethod
    def table(self) -> str: ...

    def reserve(
        self, method: str, request_id: str, fingerprint: str, now: float, stale_before: float
    ) -> Prior | None:
        """None when this caller holds the reservation now; else what is there."""
        m = self.mark
        inserted, _ = self._run(
            f"INSERT INTO {self.table} (method, request_id, fingerprint, reserved_at, owner) "
            f"VALUES ({m}, {m}, {m}, {m}, {m}) ON CONFLICT DO NOTHING",
            (method, request_id, fingerprint, now, self.owner),
        )
        if inserted:
            return None
        prior = self.lookup(method, request_id)
        if prior is None:  # released between our insert and our read: try again
            return self.reserve(method, request_id, fingerprint, now, stale_before)
        if prior.response is None and (
            prior.reserved_at < stale_before
            or (prior.owner and prior.owner != self.owner and self.gone(prior.owner))
        ):
            # Its caller died mid-call (a crash, not an error): take the reservation over.
            taken, _ = self._run(
                f"UPDATE {self.table} SET fingerprint = {m}, reserved_at = {m}, owner = {m} "
                f"WHERE method = {m} AND request_id = {m} AND reserved_at = {m} "
                "AND response IS NULL",
                (fingerprint, now, self.owner, method, request_id, prior.reserved_at),
            )
            if taken:
                return None
        return prior

    def lookup(self, method: str, request_id: str) -> Prior | None:
        m = self.mark
        _, rows = self._run(
            f"SELECT fingerprint, response, reserved_at, owner FROM {self.table} "
            f"WHERE method = {m} AND request_id = {m}",
            (method, request_id),
        )
        if not rows:
            return None
        fingerprint, response, reserved_at, owner = rows[0]
        answer = bytes(response) if response is not None else None
        return Prior(fingerprint, answer, reserved_at, owner or "")

    def complete(self, method: str, request_id: str, response: bytes) -> None:
        m = self.mark
        self._run(
            f"UPDATE {self.table} SET response = {m} WHERE method = {m} AND request_id = {m}",
            (response, method, request_id),
        )

    def release(self, method: str, request_id: str) -> None:
        m = self.mark
        self._run(
            f"DELETE FROM {self.table} WHERE method = {m} AND request_id = {m} "
            "AND response IS NULL",
            (method, request_id),
        )

    def forget_before(self, moment: float) -> int:
        """Drop answers older than `moment` (request ids are kept for a day)."""
        deleted, _ = self._run(f"DELETE FROM {self.table} WHERE reserved_at < {self.mark}",
                               (moment,))
        return deleted


class SQLiteIdempotencyStore(IdempotencyStore):
    """One process per SQLite store (adapters/store_lock.py): a reservation of any other
    owner was left by a process that is gone."""

    def __init__(self, datastore: SQLiteDatastore, owner: str = "") -> None:
        self.datastore = datastore
        self.owner = owner
        self._run(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (method TEXT NOT NULL, "
            "request_id TEXT NOT NULL, fingerprint TEXT NOT NULL, response BLOB, "
            "reserved_at REAL NOT NULL, owner TEXT, PRIMARY KEY (method, request_id))",
            (),
        )
        _, columns = self._run(f"SELECT name FROM pragma_table_info('{TABLE}')", ())
        if ("owner",) not in columns:  # a table made before owners
            self._run(f"ALTER TABLE {TABLE} ADD COLUMN owner TEXT", ())

    def gone(self, owner: str) -> bool:
        return bool(self.owner) and owner != self.owner

    @property
    def table(self) -> str:
        return TABLE

    def _run(self, sql: str, params: tuple[Any, ...]) -> tuple[int, list[tuple[Any, ...]]]:
        with self.datastore.transaction(commit=True) as c:
            c.execute(sql, params)
            rows = [tuple(r) for r in c.fetchall()] if sql.startswith("SELECT") else []
            return c.sqlite_cursor.rowcount, rows


class PostgresIdempotencyStore(IdempotencyStore):
    mark = "%s"

    def __init__(
        self,
        datastore: PostgresDatastore,
        owner: str = "",
        gone: Callable[[str], bool] = lambda owner: False,
    ) -> None:
        self.datastore = datastore
        self.owner = owner
        self._gone = gone
        self._run(
            f"CREATE TABLE IF NOT EXISTS {self.table} (method text NOT NULL, "
            "request_id text NOT NULL, fingerprint text NOT NULL, response bytea, "
            "reserved_at double precision NOT NULL, owner text, "
            "PRIMARY KEY (method, request_id))",
            (),
        )
        self._run(f"ALTER TABLE {self.table} ADD COLUMN IF NOT EXISTS owner text", ())

    def gone(self, owner: str) -> bool:
        return self._gone(owner)

    @property
    def table(self) -> str:
        return f'"{self.datastore.schema or "public"}".{TABLE}'

    def _run(self, sql: str, params: tuple[Any, ...]) -> tuple[int, list[tuple[Any, ...]]]:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(sql, params)
            rows = [tuple(r.values()) for r in curs.fetchall()] if sql.startswith("SELECT") else []
            return curs.rowcount, rows
