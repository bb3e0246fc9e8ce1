"""Request counting for tests and benchmarks.

Every request but the admin ones adds 1 to "total" and 1 to its kind ("set", "get",
"list", "token", ...), whatever its outcome: the counts say what clients sent. Outcomes the
emulator produced add to their own counters without touching "total": "challenge" (401),
"throttled" (429), "forbidden" (403 for a missing permission), "injected" (5xx) and
"dropped" (connection closed without an answer).
"""

from __future__ import annotations

import threading
from collections import Counter

OUTCOMES = ("challenge", "throttled", "forbidden", "injected", "dropped")


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def request(self, kind: str) -> None:
        with self._lock:
            self._counts[kind] += 1
            self._counts["total"] += 1

    def outcome(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def snapshot(self) -> dict[str, int]:
        """A copy; absent kinds read as 0 through .get(kind, 0)."""
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
