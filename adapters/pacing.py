"""Pacing requests to Key Vault's per-vault limits, and retrying what is transient.

Key Vault allows, per vault and 10-second window, 300 secret writes and 4,000
transactions in all; beyond that it answers 429. A sliding window that mirrors
the server's lets a sync run at the limit without ever being throttled; when a
429 comes anyway (other clients share the vault), Retry-After is honoured, and
without it the wait grows exponentially with full jitter.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")

WINDOW_SECONDS = 10.0
SETS_PER_WINDOW = 300
TRANSACTIONS_PER_WINDOW = 4000
WINDOW_SLACK_SECONDS = 0.3


class SlidingWindow:
    """At most `limit` starts in any `window` seconds; `acquire` waits for a slot."""

    def __init__(
        self,
        limit: int,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                while self._starts and now - self._starts[0] >= self.window:
                    self._starts.popleft()
                if len(self._starts) < self.limit:
                    self._starts.append(now)
                    return
                wait = self.window - (now - self._starts[0])
            self._sleep(max(wait, 0.001))


class Pacer(Protocol):
    def before(self, is_write: bool) -> None:
        """Wait until one more request (a write: a set) fits the vault's limits."""
        ...


class VaultPacer:
    """One per vault and process: every request takes a transaction slot, writes a set
    slot too. Replicas share a vault's budget through adapters/vault_budget.py."""

    def __init__(
        self,
        sets: int = SETS_PER_WINDOW,
        transactions: int = TRANSACTIONS_PER_WINDOW,
        window: float = WINDOW_SECONDS,
    ) -> None:
        # The server counts a request when it arrives, we when it leaves: a request
        # sent just as one of ours leaves our window may reach the server before
        # that one leaves the server's. A slightly longer window and 2% fewer
        # slots keep us under its count.
        window += WINDOW_SLACK_SECONDS
        self.sets = SlidingWindow(max(1, int(sets * 0.98)), window)
        self.transactions = SlidingWindow(max(1, int(transactions * 0.98)), window)

    def before(self, is_write: bool) -> None:
        if is_write:
            self.sets.acquire()
        self.transactions.acquire()


def backoff(attempt: int, retry_after: float | None, base: float = 0.5, cap: float = 30.0) -> float:
    """Seconds to wait before retry `attempt` (1-based)."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), cap * 4)
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))
