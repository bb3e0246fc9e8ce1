"""One request budget per vault, shared by every replica, kept in PostgreSQL.

Key Vault's limits are per vault (300 sets and 4,000 requests in any 10 s): replicas
that each paced themselves to them would together send N times too much and live on
429s. Here every request first reserves its moment in one schedule per vault, kept in a
table: the earliest moment at which the vault's sliding window has room for it (sets
and all requests counted apart), then sleeps until then. Reservations for one vault are
made one at a time (a transaction advisory lock) on the database's clock, so replicas
with skewed clocks still agree. Each reservation is a few statements on one connection
per process: small next to a Key Vault request.

If the database cannot be reached, a request falls back to this process's own pacer
(and says so in the log): the sync goes on, relying on Retry-After as before.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import zlib
from collections.abc import Callable

import psycopg
from psycopg import errors as pg_errors

from adapters.pacing import (
    SETS_PER_WINDOW,
    TRANSACTIONS_PER_WINDOW,
    WINDOW_SECONDS,
    VaultPacer,
)
from adapters.postgres_session import session

TABLE = "secretsync_vault_budget"
# Reservations are spaced by the window plus this: the vault counts a request when it
# arrives, we when we send it, and arrival delays vary by tens of milliseconds.
SHARED_SLACK_SECONDS = 0.25
log = logging.getLogger("secretsync.budget")


class PostgresVaultBudget:
    """The schedule of every vault's requests, in `<schema>.secretsync_vault_budget`."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        sets: int = SETS_PER_WINDOW,
        transactions: int = TRANSACTIONS_PER_WINDOW,
        window: float = WINDOW_SECONDS + SHARED_SLACK_SECONDS,
    ) -> None:
        self.env = env
        self.sets = sets
        self.transactions = transactions
        self.window = window
        self.table = f'"{env.get("POSTGRES_SCHEMA") or "public"}".{TABLE}'
        self._lock = threading.Lock()  # one connection, one reservation at a time
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None

    def reserve(self, vault: str, is_write: bool) -> float:
        """Seconds until this request may be sent (0 when at once), its slot taken."""
        with self._lock:
            try:
                return self._reserve(self._connected(), vault, is_write)
            except psycopg.Error:
                self.close()  # a fresh connection next time
                raise

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error):
                connection.close()

    def _connected(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._connection is None or self._connection.closed:
            connection = session(self.env, "vault-budget")
            # IF NOT EXISTS races with another replica making it at the same moment.
            with contextlib.suppress(pg_errors.UniqueViolation, pg_errors.DuplicateTable):
                connection.execute(
                    f"CREATE TABLE IF NOT EXISTS {self.table} (vault text NOT NULL, "
                    "writes boolean NOT NULL, at double precision NOT NULL)"
                )
                for name, columns in (("all", "vault, at"), ("writes", "vault, writes, at")):
                    connection.execute(
                        f"CREATE INDEX IF NOT EXISTS {TABLE}_{name} ON {self.table} ({columns})"
                    )
            self._connection = connection
        return self._connection

    def _reserve(
        self, connection: psycopg.Connection[tuple[object, ...]], vault: str, is_write: bool
    ) -> float:
        with connection.transaction():
            row = connection.execute(
                "SELECT extract(epoch FROM clock_timestamp())::double precision, "
                "pg_advisory_xact_lock(%s)",
                (_lock_key(vault),),
            ).fetchone()
            assert row is not None
            now = float(row[0])  # type: ignore[arg-type]
            connection.execute(
                f"DELETE FROM {self.table} WHERE vault = %s AND at < %s",
                (vault, now - self.window),
            )
            at = max(now, self._room(connection, vault, None, self.transactions))
            if is_write:
                at = max(at, self._room(connection, vault, True, self.sets))
            connection.execute(
                f"INSERT INTO {self.table} (vault, writes, at) VALUES (%s, %s, %s)",
                (vault, is_write, at),
            )
        return at - now

    def _room(
        self,
        connection: psycopg.Connection[tuple[object, ...]],
        vault: str,
        writes: bool | None,
        limit: int,
    ) -> float:
        """The moment the window has room again: `window` after the limit-th latest
        reservation (writes only, or all); 0 when fewer are reserved."""
        only_writes = "AND writes" if writes else ""
        row = connection.execute(
            f"SELECT at FROM {self.table} WHERE vault = %s {only_writes} "
            "ORDER BY at DESC OFFSET %s LIMIT 1",
            (vault, limit - 1),
        ).fetchone()
        return float(row[0]) + self.window if row else 0.0  # type: ignore[arg-type]


class SharedVaultPacer:
    """A VaultPacer for one vault whose budget every replica shares (see the module)."""

    def __init__(
        self,
        vault: str,
        budget: PostgresVaultBudget,
        fallback: VaultPacer | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.vault = vault
        self.budget = budget
        self.fallback = fallback or VaultPacer()
        self._sleep = sleep

    def before(self, is_write: bool) -> None:
        try:
            wait = self.budget.reserve(self.vault, is_write)
        except psycopg.Error as error:
            log.warning(
                "the shared vault budget is unreachable (%s): pacing this process alone",
                type(error).__name__,
            )
            self.fallback.before(is_write)
            return
        if wait > 0:
            self._sleep(wait)


def _lock_key(vault: str) -> int:
    """A 64-bit advisory lock key for one vault's schedule."""
    return zlib.crc32(f"secretsync-vault-budget:{vault}".encode()) | (0x5B << 32)
