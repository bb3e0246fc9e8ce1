"""Whether the event store answers, asked twice a second on a connection of its own (and,
for SQLite, whether its disk has space).

Health says NOT_SERVING while it does not, on every replica (leader or not), and calls are
refused at once with UNAVAILABLE (service/api/store_gate.py) instead of waiting on a pool
for a database that is gone. It says SERVING again by itself when the store answers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from adapters.postgres_session import session
from service.runtime import metrics

PROBE_SECONDS = 0.5
PROBE_TIMEOUT_SECONDS = 2
MIN_FREE_BYTES = 256 * 1024  # SQLite: less free space than this on its disk is "full"
FAILURES_TO_REFUSE = 2  # one lost probe (a busy machine) does not turn callers away
# The server answers but has no connection slot for the probe: it is up, only full.
BUSY = ("too many clients", "remaining connection slots")
log = logging.getLogger("secretsync.store")


class StoreProbe:
    def __init__(self, env: dict[str, str], interval: float = PROBE_SECONDS) -> None:
        self.env = env
        self.interval = interval
        self.reachable = True  # the server opened its stores just before
        self.why = ""
        self.failures = 0
        self.full = False  # SQLite: its disk is (nearly) full; reads work, writes fail
        self._connection: Any = None
        self.on_change: list[Callable[[bool], None]] = []
        metrics.STORE_REACHABLE.set(1)

    def run(self, stopping: threading.Event) -> None:
        """The supervised loop (service/runtime/supervisor.py)."""
        try:
            while not stopping.wait(self.interval):
                self.check()
        finally:
            self._close()

    def check(self) -> bool:
        try:
            self._ask()
        except Exception as error:  # any other failure to answer: unreachable
            self._close()
            if any(words in str(error) for words in BUSY):
                return self.reachable
            self.failures += 1
            if self.failures >= FAILURES_TO_REFUSE:
                self._set(False, type(error).__name__)
        else:
            self.failures = 0
            self._set(True, "")
        return self.reachable

    def _ask(self) -> None:
        if self.env["PERSISTENCE_MODULE"].endswith("postgres"):
            if self._connection is None:
                self._connection = session(self.env, "probe", PROBE_TIMEOUT_SECONDS)
            self._connection.execute("SELECT 1")
            return
        if self._connection is None:
            self._connection = sqlite3.connect(
                self.env["SQLITE_DBNAME"], timeout=PROBE_TIMEOUT_SECONDS, check_same_thread=False
            )
        self._connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        disk = os.statvfs(os.path.dirname(os.path.abspath(self.env["SQLITE_DBNAME"])))
        self._set_full(disk.f_bavail * disk.f_frsize < MIN_FREE_BYTES)

    def _set_full(self, full: bool) -> None:
        if full == self.full:
            return
        self.full = full
        if full:
            log.error("the store's disk is full: writes are refused (RESOURCE_EXHAUSTED) "
                      "until space is freed")
            return
        log.warning("the store's disk has space again")
        for listener in self.on_change:
            listener(True)  # failed parts restart now, without waiting out a backoff

    def _set(self, reachable: bool, why: str) -> None:
        changed = reachable != self.reachable
        self.reachable, self.why = reachable, why
        if not changed:
            return
        metrics.STORE_REACHABLE.set(1 if reachable else 0)
        if reachable:
            log.warning("the event store answers again")
        else:
            log.error("the event store cannot be reached (%s): refusing calls with UNAVAILABLE "
                      "until it answers", why)
        for listener in self.on_change:
            listener(reachable)

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()
