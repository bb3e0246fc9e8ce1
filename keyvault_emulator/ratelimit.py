"""Key Vault's per-vault throttling, as sliding windows.

Key Vault allows, per vault and region, 300 secret CREATEs (sets) and 4,000 transactions
of all kinds in any 10 s; beyond that it answers 429. Requests it refuses do not count,
so a client that keeps retrying does not push the window further out.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """Defaults are Key Vault's documented numbers (on unless the emulator is lenient)."""

    sets: int = 300
    total: int = 4000
    window_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.sets < 1 or self.total < 1 or self.window_seconds <= 0:
            raise ValueError("rate limit needs sets >= 1, total >= 1 and window_seconds > 0")


class RateLimiter:
    def __init__(self, limit: RateLimit, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._all: dict[str, deque[float]] = {}
        self._sets: dict[str, deque[float]] = {}

    def admit(self, vault: str, is_set: bool) -> int | None:
        """None when admitted (and counted); else the Retry-After in whole seconds (>= 1)."""
        now = self._monotonic()
        window = self.limit.window_seconds
        with self._lock:
            every = self._all.setdefault(vault, deque())
            sets = self._sets.setdefault(vault, deque())
            for times in (every, sets):
                while times and times[0] <= now - window:
                    times.popleft()
            waits = []
            if len(every) >= self.limit.total:
                waits.append(every[0] + window - now)
            if is_set and len(sets) >= self.limit.sets:
                waits.append(sets[0] + window - now)
            if waits:
                return max(1, math.ceil(max(waits)))
            every.append(now)
            if is_set:
                sets.append(now)
            return None


KEY_VAULT = RateLimit()  # what every emulator enforces unless told otherwise
