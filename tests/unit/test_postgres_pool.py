"""A pool's reconnection backoff is capped once a server is built."""

from __future__ import annotations

import psycopg_pool.pool

from adapters.postgres_pool import RECONNECT_CAP_SECONDS, cap_reconnect_backoff


def test_reconnection_attempts_never_wait_longer_than_the_cap():
    cap_reconnect_backoff()
    attempt = psycopg_pool.pool.AttemptWithBackoff(timeout=300)
    delays = []
    for step in range(10):
        attempt.update_delay(float(step))
        delays.append(attempt.delay)
    assert max(delays) <= RECONNECT_CAP_SECONDS
    assert delays[0] < RECONNECT_CAP_SECONDS  # still starts short and grows
