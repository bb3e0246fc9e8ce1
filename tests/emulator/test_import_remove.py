"""Import and remove jobs end to end: gRPC → worker → Azure SDK → emulator, on both stores.

The worker runs every job kind with no trigger beyond the request itself:
ImportSecrets brings vault secrets into the source folder, RemoveSecrets
deletes exactly what the sync manages, DeleteSecretSync with remove_secrets
deletes the sync only once the removal succeeded, and the import-first initial
sync behaviours import before the first sync.
"""

from __future__ import annotations

import grpc
import pytest
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api

from domain.plan import OWNER_TAG
from tests.emulator.conftest import eventually, vault_value
from tests.emulator.world import World


@pytest.fixture
def world(running, emulator) -> World:
    return World(running, emulator)


def test_remove_secrets_deletes_exactly_what_the_sync_manages(world):
    world.vault_put("OTHER", "keep", tags={OWNER_TAG: "another-sync"})
    world.set("A", "1")
    world.set("B", "2")
    sync = world.create()
    assert vault_value(world.emulator, "A") == "1"

    world.syncs.RemoveSecrets(api.RemoveSecretsRequest(id=sync.id))
    shown = world.wait(sync.id, "remove_status")

    assert shown.remove_status == pb.JOB_STATUS_SUCCEEDED, shown.last_remove_message
    assert vault_value(world.emulator, "A") is None and vault_value(world.emulator, "B") is None
    assert vault_value(world.emulator, "OTHER") == "keep"
    assert "2 deleted" in shown.last_remove_message
    assert world.source_values() == {"A": "1", "B": "2"}  # the source is untouched


def test_a_disabled_secret_is_left_in_place_and_reported(world):
    world.set("A", "1")
    world.set("B", "2")
    sync = world.create()
    world.emulator.vault().update_secret("B", enabled=False)

    world.syncs.RemoveSecrets(api.RemoveSecretsRequest(id=sync.id))
    shown = world.wait(sync.id, "remove_status")

    assert vault_value(world.emulator, "A") is None
    assert world.emulator.vault().get_secret("B", for_value=False).version.enabled is False
    assert "left in place: B (disabled in the vault" in shown.last_remove_message


def test_delete_with_remove_secrets_removes_then_deletes(world):
    world.set("A", "1")
    sync = world.create()

    world.syncs.DeleteSecretSync(api.DeleteSecretSyncRequest(id=sync.id, remove_secrets=True))

    def gone() -> bool:
        try:
            world.get(sync.id)
        except grpc.RpcError as error:
            return error.code() == grpc.StatusCode.NOT_FOUND
        return False

    eventually(gone)
    assert vault_value(world.emulator, "A") is None
    again = world.create()  # the name is free again
    assert again.name == sync.name and again.id != sync.id


def test_a_failed_removal_keeps_the_sync(world):
    world.set("A", "1")
    sync = world.create()
    world.emulator.set_permissions(world.emulator.client_id, ["list", "get", "set"])

    world.syncs.DeleteSecretSync(api.DeleteSecretSyncRequest(id=sync.id, remove_secrets=True))
    shown = world.wait(sync.id, "remove_status")

    assert shown.remove_status == pb.JOB_STATUS_FAILED
    assert "A (Forbidden (AccessDenied)" in shown.last_remove_message
    assert vault_value(world.emulator, "A") == "1"
    world.syncs.TriggerSecretSync(api.TriggerSecretSyncRequest(id=sync.id))  # not being deleted


def test_import_prioritize_destination_takes_the_vault_values(world):
    world.set("DB_HOST", "source")
    world.set("KEEP", "source")
    sync = world.create(disable_secret_deletion=True)
    world.vault_put("DB-HOST", "vault")  # drifted in the vault
    world.vault_put("ONLY-IN-VAULT", "x")

    world.syncs.ImportSecrets(api.ImportSecretsRequest(
        id=sync.id, import_behavior=pb.IMPORT_BEHAVIOR_PRIORITIZE_DESTINATION))
    shown = world.wait(sync.id, "import_status")

    assert shown.import_status == pb.JOB_STATUS_SUCCEEDED, shown.last_import_message
    assert world.source_values() == {"DB_HOST": "vault", "KEEP": "source", "ONLY-IN-VAULT": "x"}
    assert "x" not in shown.last_import_message.split() and "2 imported" in (
        shown.last_import_message)


def test_import_prioritize_source_only_adds_missing_keys(world):
    world.set("DB_HOST", "source")
    sync = world.create(disable_secret_deletion=True)
    world.vault_put("DB-HOST", "vault")
    world.vault_put("ONLY-IN-VAULT", "x")

    world.syncs.ImportSecrets(api.ImportSecretsRequest(
        id=sync.id, import_behavior=pb.IMPORT_BEHAVIOR_PRIORITIZE_SOURCE))
    world.wait(sync.id, "import_status")

    assert world.source_values() == {"DB_HOST": "source", "ONLY-IN-VAULT": "x"}


@pytest.mark.parametrize(
    ("behavior", "expected_host"),
    [
        (pb.INITIAL_SYNC_BEHAVIOR_IMPORT_PRIORITIZE_SOURCE, "source"),
        (pb.INITIAL_SYNC_BEHAVIOR_IMPORT_PRIORITIZE_DESTINATION, "vault"),
    ],
)
def test_an_import_first_initial_sync_imports_then_pushes(world, behavior, expected_host):
    world.set("DB_HOST", "source")
    world.vault_put("DB-HOST", "vault")
    world.vault_put("FROM-VAULT", "v")

    shown = world.create(behavior)

    assert shown.sync_status == pb.JOB_STATUS_SUCCEEDED, shown.last_sync_message
    assert world.source_values() == {"DB_HOST": expected_host, "FROM-VAULT": "v"}
    assert vault_value(world.emulator, "DB-HOST") == expected_host
    assert vault_value(world.emulator, "FROM-VAULT") == "v"  # imported, so not deleted
