"""Closed-loop load generator: keep N calls in flight for a fixed time; latency percentiles.

With 1 in flight a worker thread makes one blocking call after another. With more,
N calls are started with `.future()` and each one's done-callback starts the next,
so exactly N are outstanding until the time (or the request budget) runs out.
Only calls that end inside the measured window (after the warm-up, before the
deadline) count, for throughput and latency alike.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

Issue = Callable[[], grpc.Future]  # starts one call


@dataclass
class LoadResult:
    in_flight: int
    seconds: float  # the measured window
    latencies: list[float]  # seconds, of calls inside the window
    errors: int
    total_ok: int  # successful calls, warm-up and tail included
    first_error: str = ""
    probe_delta: float = 0.0  # probe() at the window's end minus at its start

    @property
    def qps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile_ms(self, pct: float) -> float:
        return percentile(self.latencies, pct) * 1000


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2 if ordered else 0.0


@dataclass
class _Run:
    issue: Issue
    warm_end: float
    end: float
    max_requests: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    spans: list[tuple[float, float]] = field(default_factory=list)
    issued: int = 0
    outstanding: int = 0
    errors: int = 0
    first_error: str = ""
    idle: threading.Event = field(default_factory=threading.Event)

    def _may_issue(self) -> bool:
        with self.lock:
            if time.perf_counter() >= self.end or self.issued >= self.max_requests:
                return False
            self.issued += 1
            return True

    def _record(self, start: float, future: grpc.Future) -> None:
        done = time.perf_counter()
        error = future.exception()
        with self.lock:
            if error is None:
                self.spans.append((start, done))
            else:
                self.errors += 1
                self.first_error = self.first_error or repr(error)[:300]

    def blocking_loop(self) -> None:
        while self._may_issue():
            start = time.perf_counter()
            future = self.issue()
            with contextlib.suppress(grpc.RpcError):
                future.result()
            self._record(start, future)
        self.idle.set()

    def start_chain(self) -> None:
        with self.lock:
            self.outstanding += 1
        self._next()

    def _next(self) -> None:
        if not self._may_issue():
            with self.lock:
                self.outstanding -= 1
                if self.outstanding == 0:
                    self.idle.set()
            return
        start = time.perf_counter()
        self.issue().add_done_callback(lambda f: self._done(start, f))

    def _done(self, start: float, future: Any) -> None:
        self._record(start, future)
        self._next()


def run_load(
    issue: Issue,
    in_flight: int,
    warmup: float,
    duration: float,
    max_requests: int = 500_000,
    probe: Callable[[], float] | None = None,
) -> LoadResult:
    """Keep `in_flight` calls outstanding for warmup + duration seconds; measure the latter."""
    now = time.perf_counter()
    run = _Run(issue, now + warmup, now + warmup + duration, max_requests)
    if in_flight == 1:
        threading.Thread(target=run.blocking_loop, daemon=True).start()
    else:
        for _ in range(in_flight):
            run.start_chain()
    _sleep_until(run.warm_end)
    probe_start = probe() if probe else 0.0
    _sleep_until(run.end)
    probe_end = probe() if probe else 0.0
    if not run.idle.wait(timeout=60):
        raise RuntimeError("calls still outstanding 60 s after the deadline")
    with run.lock:
        spans = list(run.spans)
    last_done = max((done for _, done in spans), default=run.warm_end)
    window = max(0.0, min(run.end, last_done) - run.warm_end)
    latencies = [done - start for start, done in spans if run.warm_end <= done <= run.end]
    return LoadResult(
        in_flight,
        window,
        latencies,
        run.errors,
        len(spans),
        run.first_error,
        probe_end - probe_start,
    )


def _sleep_until(moment: float) -> None:
    while (left := moment - time.perf_counter()) > 0:
        time.sleep(min(left, 0.1))
