"""Soft delete as Key Vault does it: deleted collection, conflicts, recover, purge, windows."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from keyvault_emulator.errors import ApiError
from keyvault_emulator.store import Vault
from tests.emulator.conftest import inner_code, vault_request


def test_delete_then_get_deleted(emulator, client):
    client.set_secret("old", "v", tags={"k": "v"})
    poller = client.begin_delete_secret("old")
    deleted = poller.result()  # at once, before the deletion has finished
    poller.wait()
    assert deleted.recovery_id == f"{emulator.url}/deletedsecrets/old"
    assert deleted.scheduled_purge_date - deleted.deleted_date == timedelta(days=90)
    again = client.get_deleted_secret("old")
    assert again.name == "old"
    assert again.recovery_id == deleted.recovery_id
    assert again.properties.tags == {"k": "v"}
    with pytest.raises(ResourceNotFoundError):
        client.get_secret("old")
    assert [p.name for p in client.list_properties_of_secrets()] == []
    assert [d.name for d in client.list_deleted_secrets()] == ["old"]


def test_delete_poller_wait_then_get_deleted(client):
    client.set_secret("waited", "v")
    client.begin_delete_secret("waited").wait()
    assert client.get_deleted_secret("waited").name == "waited"


def test_deleted_bundle_has_no_value(emulator):
    emulator.vault().set_secret("x", "secret-value")
    body = vault_request(emulator, "DELETE", "/secrets/x").json()
    assert "value" not in body
    assert {"recoveryId", "deletedDate", "scheduledPurgeDate", "id", "attributes"} <= set(body)
    fetched = vault_request(emulator, "GET", "/deletedsecrets/x").json()
    assert "value" not in fetched


def test_setting_a_soft_deleted_name_conflicts(raw_client):
    raw_client.set_secret("taken", "v")
    raw_client.begin_delete_secret("taken").wait()
    with pytest.raises(ResourceExistsError) as conflict:
        raw_client.set_secret("TAKEN", "new")
    assert conflict.value.status_code == 409
    assert conflict.value.error.code == "Conflict"
    assert inner_code(conflict.value) == "ObjectIsDeletedButRecoverable"
    assert "deleted but recoverable state" in conflict.value.error.message


def test_recover_brings_back_every_version(client):
    first = client.set_secret("back", "v1")
    client.set_secret("back", "v2")
    client.begin_delete_secret("back").wait()
    recovering = client.begin_recover_deleted_secret("back")
    recovered = recovering.result()
    recovering.wait()
    assert recovered.name == "back"
    assert client.get_secret("back").value == "v2"
    assert client.get_secret("back", first.properties.version).value == "v1"
    assert list(client.list_deleted_secrets()) == []


def test_recover_answers_a_bundle_without_value(emulator, instant_windows):
    emulator.vault().set_secret("r", "v")
    emulator.vault().delete_secret("r")
    response = vault_request(emulator, "POST", "/deletedsecrets/r/recover")
    assert response.status_code == 200
    assert "value" not in response.json()
    assert response.json()["id"].startswith(f"{emulator.url}/secrets/r/")


def test_purge_frees_the_name_once_it_has_finished(emulator, client, raw_client):
    emulator.timing.purge_seconds = 0.3
    client.set_secret("Purged", "v1")
    client.begin_delete_secret("purged").wait()
    client.purge_deleted_secret("PURGED")
    with pytest.raises(ResourceNotFoundError) as gone:
        client.get_deleted_secret("purged")
    assert gone.value.error.message == "Deleted Secret not found: purged"
    assert [p.name for p in client.list_properties_of_secrets()] == []
    with pytest.raises(ResourceExistsError) as busy:
        raw_client.set_secret("purged", "too early")
    assert inner_code(busy.value) == "ObjectIsBeingDeleted"
    time.sleep(0.35)
    assert client.set_secret("purged", "v2").name == "purged"  # the new casing now


def test_purge_answers_204_without_body(emulator, instant_windows):
    emulator.vault().set_secret("p", "v")
    emulator.vault().delete_secret("p")
    response = vault_request(emulator, "DELETE", "/deletedsecrets/p")
    assert response.status_code == 204
    assert response.content == b""


@pytest.mark.parametrize(
    "operation",
    [
        lambda c: c.begin_delete_secret("missing"),
        lambda c: c.begin_recover_deleted_secret("missing"),
        lambda c: c.purge_deleted_secret("missing"),
        lambda c: c.get_deleted_secret("missing"),
    ],
)
def test_missing_names_are_not_found(raw_client, operation):
    with pytest.raises(ResourceNotFoundError) as missing:
        operation(raw_client)
    assert missing.value.error.code == "SecretNotFound"


def test_deletion_window_answers_404_then_200(emulator, raw_client, client):
    emulator.timing.delete_seconds = 0.3
    client.set_secret("slow", "v")
    emulator.reset_counts()
    poller = client.begin_delete_secret("slow", _polling_interval=0.05)
    with pytest.raises(ResourceNotFoundError):
        raw_client.get_deleted_secret("slow")  # not in the deleted collection yet
    with pytest.raises(ResourceExistsError) as busy:
        raw_client.set_secret("slow", "again")
    assert inner_code(busy.value) == "ObjectIsBeingDeleted"
    poller.wait()
    assert poller.done()
    assert emulator.counts()["get_deleted"] >= 3  # the poller saw 404s before the 200
    assert client.get_deleted_secret("slow").name == "slow"


def test_recovery_window_hides_the_secret_briefly(emulator, client, raw_client):
    emulator.timing.recover_seconds = 0.3
    client.set_secret("coming-back", "v")
    client.begin_delete_secret("coming-back").wait()
    poller = client.begin_recover_deleted_secret("coming-back", _polling_interval=0.05)
    with pytest.raises(ResourceNotFoundError):
        raw_client.get_secret("coming-back")
    poller.wait()
    assert client.get_secret("coming-back").value == "v"


def test_deleted_secrets_are_purged_on_their_scheduled_date():
    now = [1_700_000_000.0]
    vault = Vault("timed", clock=lambda: now[0])
    vault.set_secret("short-lived", "v")
    deleted = vault.delete_secret("short-lived")
    assert deleted.scheduled_purge_date == deleted.deleted_date + 90 * 86_400
    now[0] += 90 * 86_400
    with pytest.raises(ApiError) as gone:
        vault.get_deleted("short-lived")
    assert gone.value.status == 404
    vault.set_secret("short-lived", "reborn")
