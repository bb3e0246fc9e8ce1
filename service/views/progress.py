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
        self._watchers_released = False
        self._everything = 0  # bumped when any sync may have changed (another process's)

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

    def advance_all(self, position: int) -> None:
        """The view was advanced elsewhere (another replica leads): any sync may have
        changed, so every watcher looks again."""
        with self._condition:
            if position > self._position:
                self._position = position
                self._everything += 1
                self._condition.notify_all()

    def changes(self, sync_id: str) -> int:
        with self._condition:
            return self._changes[sync_id] + self._everything

    def wait_for_change(self, sync_id: str, seen: int, timeout: float) -> int:
        """Block until `sync_id` changed since `seen` (or timeout); return the new count."""
        with self._condition:
            self._condition.wait_for(
                lambda: self._changes[sync_id] + self._everything != seen
                or self._stopped
                or self._watchers_released,
                timeout,
            )
            return self._changes[sync_id] + self._everything

    def release_watchers(self) -> None:
        """Shutdown: change waits return at once; writers still wait for their position."""
        with self._condition:
            self._watchers_released = True
            self._condition.notify_all()

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify_all()

    @property
    def stopped(self) -> bool:
        return self._stopped
