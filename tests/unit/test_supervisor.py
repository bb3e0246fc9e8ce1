"""The supervisor restarts a failed part with backoff, counts it, and reports it down only
until it runs again."""

from __future__ import annotations

import threading
import time

from service.runtime import metrics
from service.runtime.supervisor import PartFailed, Supervisor


def restarts(part: str) -> float:
    return metrics.BACKGROUND_RESTARTS.labels(part)._value.get()


def wait_until(check, timeout: float = 10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if value := check():
            return value
        time.sleep(0.01)
    raise AssertionError("condition not reached")


def test_a_failing_part_is_restarted_counted_and_recovered():
    runs, recovered = [], []
    release = threading.Event()

    def flaky(stopping: threading.Event) -> None:
        runs.append(1)
        if len(runs) < 3:
            raise ConnectionError("store gone")
        release.wait()
        stopping.wait()

    before = restarts("flaky")
    supervisor = Supervisor(backoff=0.01, max_backoff=0.05)
    supervisor.add("flaky", flaky, lambda: recovered.append(1))
    supervisor.start()
    try:
        wait_until(lambda: len(runs) == 3)
        assert restarts("flaky") - before == 2
        assert len(recovered) == 2
        wait_until(lambda: not supervisor.down)  # running again: not down
    finally:
        release.set()
        supervisor.stop()


def test_a_part_is_down_while_it_waits_to_restart_and_retry_now_cuts_the_wait():
    runs = []

    def failing_once(stopping: threading.Event) -> None:
        runs.append(1)
        if len(runs) == 1:
            raise PartFailed("follower:unit-test", "the unit-test follower stopped")
        stopping.wait()

    before = restarts("follower:unit-test")
    supervisor = Supervisor(backoff=60.0, max_backoff=60.0)  # would wait a minute
    supervisor.add("unit-leadership", failing_once)
    supervisor.start()
    try:
        down = wait_until(lambda: supervisor.down)
        assert "unit-leadership" in down and "unit-test follower" in down["unit-leadership"]
        assert restarts("follower:unit-test") - before == 1  # counted under what failed
        supervisor.retry_now()  # e.g. the store answers again
        wait_until(lambda: len(runs) == 2)
        wait_until(lambda: not supervisor.down)
    finally:
        supervisor.stop()


def test_a_part_that_returns_while_running_is_a_failure_too():
    runs = []

    def returns(stopping: threading.Event) -> None:
        runs.append(1)
        if len(runs) > 1:
            stopping.wait()

    supervisor = Supervisor(backoff=0.01)
    supervisor.add("returns", returns)
    supervisor.start()
    try:
        wait_until(lambda: len(runs) == 2)
    finally:
        supervisor.stop()
    assert not supervisor.down
