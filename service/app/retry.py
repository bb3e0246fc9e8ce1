"""Commands that lost a race on an aggregate's version are run again.

Each try reloads the aggregates and decides afresh, so a retry is as correct as
a first try; a stale etag still fails, because the reloaded sync shows it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from eventsourcing.persistence import IntegrityError

from domain.errors import ConcurrentChange

T = TypeVar("T")
ATTEMPTS = 5


def retried(method: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        for _ in range(ATTEMPTS - 1):
            try:
                return method(*args, **kwargs)
            except (IntegrityError, ConcurrentChange):
                continue
        try:
            return method(*args, **kwargs)
        except IntegrityError:
            raise ConcurrentChange("too many concurrent changes; try again") from None

    return wrapper
