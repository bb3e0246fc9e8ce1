"""The /_emulator/ HTTP endpoints, for clients that are not in this Python process."""

from __future__ import annotations

import pytest
import requests
from azure.core.exceptions import HttpResponseError

from tests.emulator.conftest import credential_for


def admin(emulator, method, path, **kwargs):
    return requests.request(
        method,
        f"{emulator.url}/_emulator/{path}",
        verify=str(emulator.ca_path),
        timeout=10,
        **kwargs,
    )


def test_health(emulator):
    assert admin(emulator, "GET", "health").json() == {"status": "ok", "vaults": ["emulator"]}


def test_faults_over_http(emulator, raw_client):
    raw_client.set_secret("a", "1")
    response = admin(
        emulator, "POST", "faults", json={"fail_next": {"count": 1, "status": 500}, "latency_ms": 5}
    )
    assert response.status_code == 200
    assert response.json()["pending"] == [{"remaining": 1, "status": 500, "kinds": None}]
    with pytest.raises(HttpResponseError) as failed:
        raw_client.get_secret("a")
    assert failed.value.status_code == 500
    assert admin(emulator, "DELETE", "faults").status_code == 204
    assert admin(emulator, "GET", "faults").json()["latency_ms"] == 0


def test_rate_limit_over_http(emulator, raw_client):
    raw_client.set_secret("a", "1")
    admin(
        emulator,
        "POST",
        "faults",
        json={"rate_limit": {"sets": 1, "total": 10, "window_seconds": 30}},
    )
    raw_client.set_secret("b", "1")
    with pytest.raises(HttpResponseError) as throttled:
        raw_client.set_secret("c", "1")
    assert throttled.value.status_code == 429
    admin(emulator, "POST", "faults", json={"rate_limit": None})
    raw_client.set_secret("c", "1")


def test_bad_fault_spec_is_400(emulator):
    assert admin(emulator, "POST", "faults", json={"nonsense": 1}).status_code == 400
    bad_status = admin(emulator, "POST", "faults", json={"fail_next": {"count": 1, "status": 404}})
    assert bad_status.status_code == 400
    assert admin(emulator, "POST", "faults", json={"drop_next": {"cnt": 1}}).status_code == 400


def test_counts_over_http(emulator, raw_client):
    raw_client.set_secret("a", "1")
    counts = admin(emulator, "GET", "counts").json()
    assert counts["set"] == 2
    assert counts["token"] == 1
    assert admin(emulator, "DELETE", "counts").status_code == 204
    assert admin(emulator, "GET", "counts").json() == {}


def test_principals_over_http(emulator, make_client):
    emulator.vault().set_secret("a", "1")
    response = admin(
        emulator, "PUT", "principals/lister", json={"client_secret": "pw", "permissions": ["list"]}
    )
    assert response.status_code == 200
    lister = make_client(
        credential_for(emulator, client_id="lister", client_secret="pw"), retry_total=0
    )
    assert [p.name for p in lister.list_properties_of_secrets()] == ["a"]
    with pytest.raises(HttpResponseError) as denied:
        lister.get_secret("a")
    assert denied.value.status_code == 403
    described = admin(emulator, "GET", "principals").json()
    assert {"client_id": "lister", "permissions": ["list"]} in described
    assert "pw" not in str(described)
    unknown = admin(
        emulator, "PUT", "principals/x", json={"client_secret": "s", "permissions": ["fly"]}
    )
    assert unknown.status_code == 400


def test_timing_and_reset_over_http(emulator):
    emulator.vault().set_secret("a", "1")
    response = admin(emulator, "PUT", "timing", json={"delete_seconds": 1.5})
    # Key Vault's windows by default; PUT changes only what it names.
    assert response.json() == {"delete_seconds": 1.5, "recover_seconds": 2.0, "purge_seconds": 2.0}
    assert emulator.timing.delete_seconds == 1.5
    assert admin(emulator, "DELETE", "vaults").status_code == 204
    assert emulator.vault().list_secrets(None, 25).items == []


def test_admin_requests_are_not_counted(emulator):
    admin(emulator, "GET", "health")
    assert emulator.counts() == {}


def test_unknown_admin_path_is_404(emulator):
    assert admin(emulator, "GET", "nothing").status_code == 404
