"""When a failed job is tried again by itself, and when not.

Transient failures (the vault's 5xx, throttling beyond the adapter's own retries, a
connection error, a key still being deleted, the store failing while the job recorded)
are retried with exponential backoff and jitter, up to `max_attempts`. Permanent ones
(a bad credential, a missing permission, an invalid name) are not: retrying cannot fix
them; a change (settings, connection, source) or a user's trigger requests a new job.
Keys that failed alone in an otherwise successful run are retried the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# Azure's codes (and the adapter's own) for failures that pass by themselves.
TRANSIENT_CODES = frozenset({
    "ConnectionError",  # the adapter: the vault could not be reached
    "Conflict",  # 409, e.g. ObjectIsBeingDeleted: a delete still in progress
    "ObjectIsBeingDeleted",
    "Throttled",
    "TooManyRequests",
    "RequestTimeout",
    "InternalServerError",
    "ServiceUnavailable",
    "BadGateway",
    "GatewayTimeout",
    "RecoverTimeout",  # the adapter: a recover not finished within its wait
    "StoreUnavailable",  # ours: the event store failed while the job ran
})
# HTTP statuses only: a failure before any answer (status 0) is transient only by its
# code (ConnectionError), not when the SDK refused on its own (ChallengeResourceMismatch).
TRANSIENT_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


def transient_code(code: str) -> bool:
    return code in TRANSIENT_CODES


@dataclass(frozen=True)
class RetryPolicy:
    first_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(minutes=15)
    max_attempts: int = 5

    def next_retry(self, attempt: int, now: datetime, jitter: float) -> datetime | None:
        """When retry number `attempt` (1, 2, ...) runs, or None past the limit.
        `jitter` in [0.8, 1.2] spreads replicas' retries of many syncs apart."""
        if attempt > self.max_attempts:
            return None
        delay: timedelta = min(self.first_delay * (2 ** (attempt - 1)), self.max_delay)
        return now + delay * jitter
