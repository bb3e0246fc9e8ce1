"""Request bytes that are not a message of the RPC's type: INVALID_ARGUMENT, quietly.

grpc's Python server deserializes a request before any interceptor's behaviour runs,
and answers a deserializer that raises with INTERNAL and a traceback in the log, for
every such call, without a credential. The call log's interceptor (the outermost)
gives every handler a deserializer that never raises: bytes it cannot read become a
MalformedRequest, which the call log answers as INVALID_ARGUMENT (naming `request`),
counts like any call, and reports in at most one warning line per LOG_EVERY seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from domain.errors import FieldViolation, InvalidArgument

LOG_EVERY = 60.0
log = logging.getLogger("secretsync.calls")

MALFORMED = InvalidArgument(
    [FieldViolation("request", "is not a valid message of this method's request type")]
)


class MalformedRequest:
    """What a request that could not be read is, in place of the request (no bytes kept:
    they may hold anything)."""

    __slots__ = ("error",)

    def __init__(self, error: str) -> None:
        self.error = error  # the exception's class name only


def tolerant(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """The handler's deserializer, answering MalformedRequest instead of raising."""
    if deserialize is None:
        return None

    def read(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception as error:  # DecodeError, and whatever a parser may raise
            return MalformedRequest(type(error).__name__)

    return read


class _Reporter:
    """One warning per interval, saying how many came since the last one."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._last = -LOG_EVERY
        self._since = 0

    def report(self, method: str, request: MalformedRequest) -> None:
        with self._lock:
            self._since += 1
            now = self.clock()
            if now - self._last < LOG_EVERY:
                return
            count, self._since, self._last = self._since, 0, now
        log.warning(
            "malformed request bytes refused (INVALID_ARGUMENT): %d since the last report, "
            "the latest for %s (%s); the next report in %.0fs at the earliest",
            count, method, request.error, LOG_EVERY,
        )


report = _Reporter().report
