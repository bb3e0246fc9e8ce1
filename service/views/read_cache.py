"""The latest GetSecretSync answer per sync, kept exact by the projection.

The projection runs in this process and tells the cache about every change it
writes, so a cached answer is never older than the view. A reader that fetched
a row while the projection was replacing it must not store the old answer: each
sync has a generation, bumped on every change, and an answer is stored only if
the generation is still the one seen before the read.

Valid only while the projection runs in this process: with several replicas,
only the leader (service/views/leadership.py) has it on; the others read the view.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

MAX_ENTRIES = 10_000


class ReadCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._answers: OrderedDict[str, Any] = OrderedDict()
        self._generations: dict[str, int] = {}
        self._lock = threading.Lock()
        self._max = max_entries
        self._enabled = False  # on while this process's projection advances the view

    def enable(self) -> None:
        with self._lock:
            self._enabled = True

    def disable(self) -> None:
        """Another process may advance the view now: forget everything, cache nothing."""
        with self._lock:
            self._enabled = False
            self._answers.clear()
            self._generations.clear()

    def get(self, sync_id: str) -> tuple[Any | None, int]:
        """The cached answer (or None) and the generation to pass to `put`."""
        with self._lock:
            if not self._enabled:
                return None, -1
            answer = self._answers.get(sync_id)
            if answer is not None:
                self._answers.move_to_end(sync_id)
            return answer, self._generations.get(sync_id, 0)

    def put(self, sync_id: str, generation: int, answer: Any) -> None:
        with self._lock:
            if not self._enabled or self._generations.get(sync_id, 0) != generation:
                return  # changed while it was being read: the answer may be old
            self._answers[sync_id] = answer
            self._answers.move_to_end(sync_id)
            while len(self._answers) > self._max:
                old, _ = self._answers.popitem(last=False)
                self._generations.pop(old, None)

    def changed(self, sync_id: str) -> None:
        with self._lock:
            self._answers.pop(sync_id, None)
            self._generations[sync_id] = self._generations.get(sync_id, 0) + 1
