"""Subscriptions for eventsourcing's SQLite recorder, which has none of its own.

The library's ListenNotifySubscription pulls new notifications whenever it is
told that something was written. PostgreSQL tells it with LISTEN/NOTIFY; here a
write in this process tells it at once, and a timer tells it every
POLL_INTERVAL so writes by other processes on the same file are seen too.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import (
    ApplicationRecorder,
    ListenNotifySubscription,
    StoredEvent,
    Subscription,
)
from eventsourcing.sqlite import SQLiteApplicationRecorder

POLL_INTERVAL = 0.2

_subscriptions: weakref.WeakSet[PollingSubscription] = weakref.WeakSet()
_subscriptions_lock = threading.Lock()


class PollingSubscription(ListenNotifySubscription[ApplicationRecorder]):
    def __init__(
        self,
        recorder: SQLiteApplicationRecorder,
        gt: int | None = None,
        topics: Sequence[str] = (),
    ) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._ticker.start()
        with _subscriptions_lock:
            _subscriptions.add(self)

    def _tick(self) -> None:
        while not self._has_been_stopped:
            self._has_been_notified.set()
            threading.Event().wait(POLL_INTERVAL)

    def wake(self) -> None:
        self._has_been_notified.set()


class PollingSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    """SQLite application recorder whose subscriptions poll, and wake on local writes."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super().insert_events(stored_events, **kwargs)
        with _subscriptions_lock:
            waiting = list(_subscriptions)
        for subscription in waiting:
            subscription.wake()
        return ids

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return PollingSubscription(recorder=self, gt=gt, topics=topics)
