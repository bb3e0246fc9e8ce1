"""How far the read model has got, and which syncs just changed.

The projection advances it after each event; writers wait on it for their own
write to become readable, and watch streams wait on it for their sync to change.
Waits are bounded, so a view fed by another process is still seen by polling.
"""

from __future__ import annotations

import threading
from collections import defaultdict


class Progress:
    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._position = 0
        self._changes: defaultdict[str, int] = defaultdict(int)
        self._stopped = False

    @property
    def position(self) -> int:
        return self._position

    def advance(self, position: int, sync_id: str | None = None) -> None:
        with self._condition:
            self._position = max(self._position, position)
            if sync_id is not None:
                self._changes[sync_id] += 1
            self._condition.notify_all()

    def wait_for_position(self, position: int, timeout: float) -> bool:
        with self._condition:
            return self._condition.wait_for(
                lambda: self._position >= position or self._stopped, timeout
            )

    def changes(self, sync_id: str) -> int:
        with self._condition:
            return self._changes[sync_id]

    def wait_for_change(self, sync_id: str, seen: int, timeout: float) -> int:
        """Block until `sync_id` changed since `seen` (or timeout); return the new count."""
        with self._condition:
            self._condition.wait_for(
                lambda: self._changes[sync_id] != seen or self._stopped, timeout
            )
            return self._changes[sync_id]

    def wake_all(self) -> None:
        """Wake every waiter so it can look at the world again (e.g. shutdown)."""
        with self._condition:
            self._condition.notify_all()

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify_all()

    @property
    def stopped(self) -> bool:
        return self._stopped
