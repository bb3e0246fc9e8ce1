"""Which replica advances the projections: the holder of a PostgreSQL advisory lock.

Every replica serves reads and writes and runs jobs; only the leader runs the
followers (service/views/followers.py). The lock is a session lock held on a
connection of its own: when the leader dies, PostgreSQL ends its session and
releases the lock, and the next replica to try takes it over. The leader checks
its connection every few seconds and, if it is gone, stops following at once
(another replica may already lead). SQLite is one process's store: that process
always leads.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from adapters.postgres_session import session
from service.views.followers import Followers
from service.views.read_cache import ReadCache

log = logging.getLogger("secretsync.leadership")
CHECK_SECONDS = 1.0


def lock_key(dbname: str, schema: str, purpose: str = "projections") -> int:
    """One lock per store (database and schema) and purpose, as PostgreSQL's signed
    64-bit key."""
    digest = hashlib.sha256(f"secretsync:{purpose}:{dbname}:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def tables_made_one_at_a_time(env: dict[str, str]) -> Iterator[None]:
    """Replicas starting together would race to make the same tables, and PostgreSQL's
    CREATE TABLE IF NOT EXISTS is not safe against that: they take turns."""
    if not env["PERSISTENCE_MODULE"].endswith("postgres"):
        yield
        return
    key = lock_key(env["POSTGRES_DBNAME"], env.get("POSTGRES_SCHEMA", "public"), "tables")
    with session(env, "setup") as connection:
        connection.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (key,))


class Leadership:
    """While this replica leads, it runs the followers, and its Get cache can be exact
    (its own projection writes every change). A follower that dies makes it step down,
    so that another replica may lead, and marks it failed (health says so)."""

    def __init__(
        self,
        env: dict[str, str],
        followers: Followers,
        read_cache: ReadCache,
        check_seconds: float = CHECK_SECONDS,
    ) -> None:
        self.env = env
        self.followers = followers
        self.read_cache = read_cache
        self.check_seconds = check_seconds
        self.leading = False
        self.follower_failed = False
        self.postgres = env["PERSISTENCE_MODULE"].endswith("postgres")
        self._stopping = threading.Event()
        self._connection: psycopg.Connection[tuple[object, ...]] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="leadership")

    def start(self) -> None:
        if not self.postgres:
            self._elected()
            return
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        if self.leading:
            self._deposed()
        self._close()  # ends the session: the lock goes to the next replica

    def step_down(self) -> None:
        """Stop leading (e.g. a follower failed); another replica may take over."""
        if self.leading:
            self._deposed()
        self._close()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._try()
            except Exception as error:
                log.warning("leadership check failed: %s", type(error).__name__)
                if self.leading:
                    self._deposed()
                self._close()
            self._stopping.wait(self.check_seconds)

    def _try(self) -> None:
        connection = self._connect()
        if self.leading:
            connection.execute("SELECT 1")  # still our session, so still our lock
            return
        key = lock_key(self.env["POSTGRES_DBNAME"], self.env.get("POSTGRES_SCHEMA", "public"))
        row = connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        if row and row[0] and not self._stopping.is_set():
            self._elected()

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._connection is None or self._connection.closed:
            self._connection = session(self.env, "leadership")
        return self._connection

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # a dead connection may fail to close
                connection.close()

    def _elected(self) -> None:
        self.leading = True
        log.info("this replica now advances the projections")
        self.read_cache.enable()
        self.followers.start(on_failure=self._follower_failed)

    def _deposed(self) -> None:
        self.leading = False
        log.warning("this replica no longer advances the projections")
        self.followers.stop()
        self.read_cache.disable()

    def _follower_failed(self, name: str) -> None:
        self.follower_failed = True
        self.step_down()
