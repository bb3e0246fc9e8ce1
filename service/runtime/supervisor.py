"""The supervisor of a replica's background work: one thread per part (leadership and its
followers, auto-sync, the worker loop, the view follower, the store probe, health), each
restarted with backoff when it fails.

A part is a `run(stopping)` callable that works until `stopping` is set. Returning early or
raising is a failure: the supervisor logs it once, counts it
(secretsync_background_restarts), calls the part's `recover` (e.g. leadership steps down),
waits (backoff doubling from BACKOFF_SECONDS to MAX_BACKOFF_SECONDS, with jitter, reset
once a run lasted HEALTHY_SECONDS, cut short by `retry_now` when the store is back) and
runs it again. A part is `down` from its failure
until it runs again: health reports the replica NOT_SERVING only for that long.

Why: a transient store error (a PostgreSQL restart, a full disk) used to leave a thread
dead or a flag set for good, and the replica unhealthy until someone restarted it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from service.runtime import metrics

BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 10.0
HEALTHY_SECONDS = 30.0
log = logging.getLogger("secretsync.supervisor")


class PartFailed(Exception):
    """A part reporting that something it runs stopped; `part` names it for the metric."""

    def __init__(self, part: str, message: str) -> None:
        super().__init__(message)
        self.part = part


@dataclass(frozen=True)
class Part:
    name: str
    run: Callable[[threading.Event], None]
    recover: Callable[[], None] = lambda: None


class Supervisor:
    def __init__(
        self, backoff: float = BACKOFF_SECONDS, max_backoff: float = MAX_BACKOFF_SECONDS
    ) -> None:
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.stopping = threading.Event()
        self.parts: list[Part] = []
        self._down: dict[str, str] = {}  # part -> why
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._round = 0  # bumped by retry_now: waiting parts restart at once
        self._threads: list[threading.Thread] = []

    def add(
        self,
        name: str,
        run: Callable[[threading.Event], None],
        recover: Callable[[], None] = lambda: None,
    ) -> None:
        self.parts.append(Part(name, run, recover))
        metrics.BACKGROUND_RESTARTS.labels(name)  # reads 0 from the start

    def start(self) -> None:
        for part in self.parts:
            thread = threading.Thread(target=self._keep, args=(part,), daemon=True, name=part.name)
            thread.start()
            self._threads.append(thread)

    def retry_now(self) -> None:
        """Restart every failed part now, from the shortest backoff (the store is back:
        nothing should wait out a backoff grown during the outage)."""
        with self._wake:
            self._round += 1
            self._wake.notify_all()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.retry_now()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def down(self) -> dict[str, str]:
        """The parts that failed and have not run again yet, with why."""
        with self._lock:
            return dict(self._down)

    def _keep(self, part: Part) -> None:
        backoff = self.backoff
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                part.run(self.stopping)
                if self.stopping.is_set():
                    return
                raise PartFailed(part.name, "returned while the server was running")
            except Exception as error:  # any failure: restart, never leave the part dead
                if self.stopping.is_set():
                    return
                if time.monotonic() - started >= HEALTHY_SECONDS:
                    backoff = self.backoff
                name = getattr(error, "part", part.name)
                self._failed(part, name, error, backoff)
            pause = backoff * random.uniform(0.8, 1.2)  # jitter: replicas do not retry in step
            backoff = min(backoff * 2, self.max_backoff)
            with self._wake:
                if self._wake.wait_for(partial(self._woken, self._round), pause):
                    backoff = self.backoff
                self._down.pop(part.name, None)

    def _woken(self, seen: int) -> bool:
        return self._round != seen

    def _failed(self, part: Part, name: str, error: Exception, backoff: float) -> None:
        why = f"{type(error).__name__}: {str(error)[:200]}"
        with self._lock:
            self._down[part.name] = why
        metrics.BACKGROUND_RESTARTS.labels(name).inc()
        log.warning("%s failed (%s); restarting in %.1fs", name, why, backoff)
        try:
            part.recover()
        except Exception as cleanup:
            log.warning("%s: cleaning up after the failure failed too: %s", name,
                        type(cleanup).__name__)
