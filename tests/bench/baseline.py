"""The write baseline: a bare eventsourcing Application saving new one-event aggregates.

Same library and PostgreSQL as the service, but no gRPC, no validation, no name
claim, no projection and no read-your-writes wait: one `app.save(Note())` (one
INSERT of one event in one transaction) after another, from 1 or more threads in
this process. The application (and its pool, one connection per thread at most) is
opened once and held for the whole phase, since others' tests share the server.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from service.runtime.config import persistence_env


class Note(Aggregate):
    """An aggregate whose creation is its only event."""


class BareSaves(Application[UUID]):
    name = "BareSaves"


@dataclass(frozen=True)
class BareResult:
    threads: int
    saves_per_second: float  # = events/s: one event per save
    cpu_ms_per_save: float  # this process's CPU time per save, in the window

    @property
    def events_per_second(self) -> float:
        return self.saves_per_second


class BareLoop:
    """The bare application on `database_url`, pooled for up to `max_threads` threads."""

    def __init__(self, database_url: str, max_threads: int) -> None:
        env = persistence_env(database_url) | {
            "POSTGRES_POOL_SIZE": str(max_threads),
            "POSTGRES_MAX_OVERFLOW": "0",
        }
        self.app = BareSaves(env=env)

    def close(self) -> None:
        self.app.close()

    def rate(self, threads: int, warmup: float, duration: float) -> BareResult:
        """Saves per second over `duration` (after `warmup`), `threads` threads saving."""
        start = time.perf_counter()
        warm_end, end = start + warmup, start + warmup + duration
        counts = [0] * threads

        def loop(slot: int) -> None:
            while time.perf_counter() < end:
                self.app.save(Note())
                if warm_end <= time.perf_counter() <= end:
                    counts[slot] += 1

        workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        time.sleep(max(0.0, warm_end - time.perf_counter()))
        cpu_start = time.process_time()
        time.sleep(max(0.0, end - time.perf_counter()))
        cpu = time.process_time() - cpu_start
        for worker in workers:
            worker.join()
        saves = sum(counts)
        return BareResult(threads, saves / duration, cpu * 1000 / max(1, saves))
