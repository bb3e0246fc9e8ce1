"""Where idempotent calls keep their first answer: one row per (method, request id).

A row is first a reservation (no response yet), made by an insert that only one
caller can win; the winner runs the call and stores its response, or releases
the row if the call failed, so a retry may run it again. Rows live beside the
event store, in the same database.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
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


class IdempotencyStore(ABC):
    mark = "?"  # the driver's parameter marker

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
            f"INSERT INTO {self.table} (method, request_id, fingerprint, reserved_at) "
            f"VALUES ({m}, {m}, {m}, {m}) ON CONFLICT DO NOTHING",
            (method, request_id, fingerprint, now),
        )
        if inserted:
            return None
        prior = self.lookup(method, request_id)
        if prior is None:  # released between our insert and our read: try again
            return self.reserve(method, request_id, fingerprint, now, stale_before)
        if prior.response is None and prior.reserved_at < stale_before:
            # Its caller died mid-call (a crash, not an error): take the reservation over.
            taken, _ = self._run(
                f"UPDATE {self.table} SET fingerprint = {m}, reserved_at = {m} "
                f"WHERE method = {m} AND request_id = {m} AND reserved_at = {m} "
                "AND response IS NULL",
                (fingerprint, now, method, request_id, prior.reserved_at),
            )
            if taken:
                return None
        return prior

    def lookup(self, method: str, request_id: str) -> Prior | None:
        m = self.mark
        _, rows = self._run(
            f"SELECT fingerprint, response, reserved_at FROM {self.table} "
            f"WHERE method = {m} AND request_id = {m}",
            (method, request_id),
        )
        if not rows:
            return None
        fingerprint, response, reserved_at = rows[0]
        return Prior(fingerprint, bytes(response) if response is not None else None, reserved_at)

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
    def __init__(self, datastore: SQLiteDatastore) -> None:
        self.datastore = datastore
        self._run(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (method TEXT NOT NULL, "
            "request_id TEXT NOT NULL, fingerprint TEXT NOT NULL, response BLOB, "
            "reserved_at REAL NOT NULL, PRIMARY KEY (method, request_id))",
            (),
        )

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

    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore
        self._run(
            f"CREATE TABLE IF NOT EXISTS {self.table} (method text NOT NULL, "
            "request_id text NOT NULL, fingerprint text NOT NULL, response bytea, "
            "reserved_at double precision NOT NULL, PRIMARY KEY (method, request_id))",
            (),
        )

    @property
    def table(self) -> str:
        return f'"{self.datastore.schema or "public"}".{TABLE}'

    def _run(self, sql: str, params: tuple[Any, ...]) -> tuple[int, list[tuple[Any, ...]]]:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(sql, params)
            rows = [tuple(r.values()) for r in curs.fetchall()] if sql.startswith("SELECT") else []
            return curs.rowcount, rows
