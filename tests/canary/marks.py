"""Canary marks: unique, searchable prefixes on the secret values a test run sends.

A value such as "v1" cannot be searched for (it is everywhere); "cnry00042r<run>n00042xv1"
can. The canary plugin puts a mark in front of every secret value and client secret
the tests send, and takes marks off everything the tests read back (gRPC answers and
the emulator's vault), so the tests see their own values and pass unchanged.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import threading
import uuid
from dataclasses import dataclass, field

RUN_ENV = "SECRET_SYNC_CANARY_RUN"
# Values longer than this keep their length: tests at a size limit must stay at it.
MAX_MARKED = 4096


@dataclass
class Marks:
    """The marks of one run (one run id, numbered marks) and what they were put on."""

    run: str = field(default_factory=lambda: os.environ.get(RUN_ENV) or uuid.uuid4().hex[:10])
    sent: dict[str, str] = field(default_factory=dict)  # mark -> what it was put on
    credentials: set[str] = field(default_factory=set)  # tokens and keys seen, unmarked
    unmarked: list[str] = field(default_factory=list)  # values left as they were
    # Within a test, one value always gets the same mark: setting "1" twice must
    # still be "no change" to the service. A new test gets new marks.
    _memo: dict[str, str] = field(default_factory=dict)
    # Processes of one run share the run id (each unmarks what the others marked) and
    # number their marks apart (tests/canary/recorder.py).
    first: int = 1
    _numbers: itertools.count = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._numbers = itertools.count(self.first)

    @functools.cached_property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(rf"cnry\d+r{self.run}n\d+x")

    def mark(self, value: str, kind: str) -> str:
        """The value with a mark in front; kept as is if empty, too long or marked."""
        if not value or self.pattern.search(value):
            return value
        with self._lock:
            if len(value) > MAX_MARKED:
                self.unmarked.append(kind)
                return value
            if value not in self._memo:
                # The number at both ends: a base64 form leaves off a few bytes at
                # each end, and must still tell one mark from another.
                number = next(self._numbers)
                mark = f"cnry{number:05d}r{self.run}n{number:05d}x"
                self.sent[mark] = kind
                self._memo[value] = mark + value
            return self._memo[value]

    def new_test(self) -> None:
        with self._lock:
            self._memo.clear()

    def unmark(self, text: str) -> str:
        return self.pattern.sub("", text) if "cnry" in text else text

    def credential(self, value: str) -> None:
        """A token or key the run used: searched for whole (they are long and random)."""
        if value:
            with self._lock:
                self.credentials.add(value)
