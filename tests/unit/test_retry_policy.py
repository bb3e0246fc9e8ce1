"""Which failures are retried, and when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.retry_policy import RetryPolicy, transient_code

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_retries_back_off_exponentially_up_to_a_cap_and_a_limit():
    policy = RetryPolicy(timedelta(seconds=30), timedelta(minutes=2), max_attempts=4)
    delays = [policy.next_retry(n, NOW, 1.0) - NOW for n in (1, 2, 3, 4)]  # type: ignore[operator]
    assert delays == [timedelta(seconds=s) for s in (30, 60, 120, 120)]
    assert policy.next_retry(5, NOW, 1.0) is None


def test_jitter_spreads_retries():
    policy = RetryPolicy(timedelta(seconds=100))
    assert policy.next_retry(1, NOW, 0.8) == NOW + timedelta(seconds=80)
    assert policy.next_retry(1, NOW, 1.2) == NOW + timedelta(seconds=120)


def test_transient_and_permanent_codes():
    for code in ("Conflict", "ServiceUnavailable", "Throttled", "ConnectionError"):
        assert transient_code(code)
    for code in ("Forbidden", "AuthenticationFailed", "BadParameter", "KeyCollision"):
        assert not transient_code(code)
