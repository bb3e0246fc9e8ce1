"""How fast a PostgreSQL connection pool reconnects after the server comes back.

psycopg_pool retries a lost connection with a backoff that doubles without a cap (1, 2,
4, 8, 16 s ...): after a 20 s outage a pool waited ~11 s more before it tried again, and
calls waited on it after the store already answered. Capped at RECONNECT_CAP_SECONDS,
the pools reconnect within about that long of the server's return. The pool reads the
class by its module's name, so the capped class is set there, once, at start.
"""

from __future__ import annotations

import psycopg_pool.pool
from psycopg_pool.base import AttemptWithBackoff

RECONNECT_CAP_SECONDS = 2.0


class CappedBackoff(AttemptWithBackoff):
    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, RECONNECT_CAP_SECONDS)


def cap_reconnect_backoff() -> None:
    """From now on every pool of this process retries at least every few seconds."""
    psycopg_pool.pool.AttemptWithBackoff = CappedBackoff  # type: ignore[misc]
