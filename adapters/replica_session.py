"""A replica's life, as PostgreSQL sees it: a session advisory lock named after the replica,
held on a connection of its own while the replica lives.

PostgreSQL ends a killed process' session and so releases its lock: whoever can take the
lock knows that replica is gone (its idempotency reservations are free to take over at
once). `keep` is supervised: after a database restart it takes the lock again.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from typing import Any

from adapters.postgres_session import session

CHECK_SECONDS = 1.0
REMEMBER_SECONDS = 1.0  # a liveness answer is reused this long (duplicates poll quickly)


def replica_key(env: dict[str, str], owner: str) -> int:
    text = f"secretsync:replica:{env['POSTGRES_DBNAME']}:{env.get('POSTGRES_SCHEMA')}:{owner}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


class ReplicaSession:
    def __init__(self, env: dict[str, str], owner: str) -> None:
        self.env = env
        self.owner = owner
        self._connection: Any = None
        self._answers: dict[str, tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def keep(self, stopping: threading.Event) -> None:
        """Hold this replica's lock until `stopping`; raises when the session is lost."""
        try:
            while not stopping.is_set():
                if self._connection is None:
                    self._connection = session(self.env, "replica", connect_timeout=5)
                    self._connection.execute(
                        "SELECT pg_advisory_lock(%s)", (replica_key(self.env, self.owner),)
                    )
                self._connection.execute("SELECT 1")
                stopping.wait(CHECK_SECONDS)
        finally:
            self._close()

    def gone(self, owner: str) -> bool:
        """Whether no live session holds `owner`'s lock: its process died."""
        now = time.monotonic()
        with self._lock:
            seen = self._answers.get(owner)
            if seen is not None and now - seen[0] < REMEMBER_SECONDS:
                return seen[1]
        key = replica_key(self.env, owner)
        with session(self.env, "liveness", connect_timeout=5) as connection:
            row = connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            free = bool(row and row[0])
            if free:
                connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
        with self._lock:
            self._answers[owner] = (now, free)
        return free

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()
