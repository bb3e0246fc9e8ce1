"""Which failures are the store's (down, restarting, out of space) rather than a bug.

The edge answers them UNAVAILABLE or RESOURCE_EXHAUSTED with a retry hint, never INTERNAL
(service/api/errors.py); a job that failed on one is retried (a transient failure).
"""

from __future__ import annotations

import errno
import sqlite3
from enum import Enum

import psycopg
from eventsourcing.persistence import (
    ConnectionUnavailableError,
    InterfaceError,
    OperationalError,
)

STORE_RETRY_SECONDS = 1.0  # the retry hint a refused caller gets


class StoreFailure(Enum):
    FULL = "the event store's disk is full; retry once space is freed"
    UNAVAILABLE = "the event store cannot be reached right now; retry"


TRANSIENT = (
    OperationalError,
    InterfaceError,
    ConnectionUnavailableError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    sqlite3.OperationalError,
)


def store_failure(error: BaseException) -> StoreFailure | None:
    """What the store's failure was, or None when `error` is not the store's."""
    for cause in _chain(error):
        text = str(cause).lower()
        if "disk is full" in text or (
            isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT)
        ):
            return StoreFailure.FULL
    for cause in _chain(error):
        if isinstance(cause, TRANSIENT):
            return StoreFailure.UNAVAILABLE
    return None


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen
