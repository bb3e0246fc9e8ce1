"""Fault injection and request counting, seen through the real SDK."""

from __future__ import annotations

import time

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from keyvault_emulator import KeyVaultEmulator, RateLimit
from tests.emulator.conftest import credential_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def warm(client):
    """One request so the challenge and the token are cached before counting."""
    client.set_secret("warm", "up")


def test_rate_limit_answers_429_with_retry_after(emulator, raw_client):
    warm(raw_client)
    emulator.faults.set_rate_limit(RateLimit(sets=2, total=100, window_seconds=10))
    raw_client.set_secret("a", "1")
    raw_client.set_secret("b", "2")
    with pytest.raises(HttpResponseError) as throttled:
        raw_client.set_secret("c", "3")
    assert throttled.value.status_code == 429
    assert throttled.value.error.code == "Throttled"
    retry_after = int(throttled.value.response.headers["Retry-After"])
    assert 1 <= retry_after <= 10
    assert raw_client.get_secret("a").value == "1"  # reads have their own, larger budget
    assert emulator.counts()["throttled"] == 1


def test_rate_limit_total_and_sliding_window():
    clock = FakeClock()
    with KeyVaultEmulator(monotonic=clock) as emulator:
        from azure.keyvault.secrets import SecretClient

        client = SecretClient(
            emulator.url,
            credential_for(emulator),
            verify_challenge_resource=False,
            connection_verify=str(emulator.ca_path),
            retry_total=0,
        )
        warm(client)
        emulator.faults.set_rate_limit(RateLimit(sets=100, total=3, window_seconds=10))
        for _ in range(3):
            client.get_secret("warm")
        clock.now += 4
        for _ in range(5):  # refused requests do not count against the limit
            with pytest.raises(HttpResponseError) as throttled:
                client.get_secret("warm")
            assert throttled.value.response.headers["Retry-After"] == "6"
        clock.now += 6.01  # the first three left the window
        for _ in range(3):
            client.get_secret("warm")
        client.close()


def test_sdk_default_retries_wait_out_the_throttle(emulator, client):
    warm(client)
    emulator.faults.set_rate_limit(RateLimit(sets=1, total=100, window_seconds=0.5))
    client.set_secret("first", "1")
    started = time.monotonic()
    client.set_secret("second", "2")  # 429, Retry-After: 1, then admitted
    assert time.monotonic() - started >= 0.9
    assert emulator.counts()["throttled"] == 1
    assert client.get_secret("second").value == "2"


def test_injected_5xx_surfaces_without_retries(emulator, raw_client):
    warm(raw_client)
    emulator.faults.fail_next(1, status=503)
    with pytest.raises(HttpResponseError) as failed:
        raw_client.get_secret("warm")
    assert failed.value.status_code == 503
    assert failed.value.error.code == "ServiceUnavailable"
    assert raw_client.get_secret("warm").value == "up"
    assert emulator.counts()["injected"] == 1


def test_sdk_retries_through_transient_5xx(emulator, make_client):
    client = make_client(retry_backoff_factor=0.01)
    warm(client)
    emulator.faults.fail_next(3, status=500)
    assert client.get_secret("warm").value == "up"
    assert emulator.counts()["injected"] == 3


def test_faults_can_target_one_kind(emulator, raw_client):
    warm(raw_client)
    emulator.faults.fail_next(1, status=502, kinds=["set"])
    assert raw_client.get_secret("warm").value == "up"
    with pytest.raises(HttpResponseError) as failed:
        raw_client.set_secret("warm", "again")
    assert failed.value.status_code == 502


def test_fraction_of_failures_is_reproducible(emulator, raw_client):
    warm(raw_client)

    def outcomes():
        results = []
        for _ in range(40):
            try:
                raw_client.get_secret("warm")
                results.append(True)
            except HttpResponseError as error:
                assert error.status_code == 500
                results.append(False)
        return results

    emulator.faults.fail_fraction(0.5, status=500, seed=42)
    first = outcomes()
    emulator.faults.fail_fraction(0.5, status=500, seed=42)
    assert outcomes() == first
    assert 5 < first.count(False) < 35
    emulator.faults.fail_fraction(0)
    assert all(outcomes())


def test_dropped_connection_raises_service_error(emulator, raw_client):
    warm(raw_client)
    emulator.faults.drop_next(1)
    with pytest.raises((ServiceRequestError, ServiceResponseError)):
        raw_client.get_secret("warm")
    assert raw_client.get_secret("warm").value == "up"
    assert emulator.counts()["dropped"] == 1


def test_sdk_retries_a_dropped_read(emulator, client):
    warm(client)
    emulator.faults.drop_next(1)
    assert client.get_secret("warm").value == "up"
    assert emulator.counts()["dropped"] == 1


def test_token_endpoint_faults_need_to_be_asked_for(emulator, make_client):
    emulator.faults.fail_next(1, status=503)  # vault requests only, by default
    client = make_client(retry_total=0)
    with pytest.raises(HttpResponseError):
        client.get_secret("x")  # the challenge request took the fault
    assert emulator.counts().get("token", 0) == 0
    emulator.faults.fail_next(1, status=503, kinds=["token"])
    fresh = make_client(credential_for(emulator, retry_total=0), retry_total=0)
    with pytest.raises(HttpResponseError):
        fresh.get_secret("x")
    assert emulator.counts()["token"] == 1


def test_latency_is_added_to_every_request(emulator, raw_client):
    warm(raw_client)
    emulator.faults.latency_ms = 40
    started = time.monotonic()
    for _ in range(3):
        raw_client.get_secret("warm")
    assert time.monotonic() - started >= 0.12


def test_counters_count_what_was_sent(emulator, instant_windows, raw_client):
    warm(raw_client)
    vault = emulator.vault()
    vault.set_secret("z1", "v")
    vault.set_secret("z2", "v")
    emulator.reset_counts()
    for i in range(3):
        raw_client.set_secret(f"s{i}", "v")
    raw_client.get_secret("s0")
    raw_client.get_secret("s1")
    assert len(list(raw_client.list_properties_of_secrets(max_page_size=2))) == 6
    raw_client.update_secret_properties("s2", enabled=False)
    raw_client.begin_delete_secret("s2").wait()
    raw_client.begin_recover_deleted_secret("s2").wait()
    assert emulator.counts() == {
        "set": 3,
        "get": 3,  # two gets and the recover poller's check
        "list": 3,
        "update": 1,
        "delete": 1,
        "get_deleted": 1,  # the delete poller's check
        "recover": 1,
        "total": 13,
    }
    emulator.reset_counts()
    assert emulator.counts() == {}
