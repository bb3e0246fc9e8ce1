"""The sync end to end against a vault that behaves as Key Vault does (the emulator's
strict defaults): long-running deletes and purges, certificate-backed secrets, and the
kinds of 403. gRPC → worker → Azure SDK → emulator."""

from __future__ import annotations

import re

import pytest
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb

from keyvault_emulator import KeyVaultEmulator
from tests.conftest import create_request
from tests.emulator.world import PATH, World

SUCCEEDED, FAILED = pb.JOB_STATUS_SUCCEEDED, pb.JOB_STATUS_FAILED


@pytest.fixture
def world(running, emulator) -> World:
    return World(running, emulator)


def vault_contents(emulator: KeyVaultEmulator, vault: str | None = None) -> dict[str, str]:
    page = emulator.vault(vault).list_secrets(None, 100_000)
    return {s.name: s.version.value for s in page.items}


def mentions(message: str, name: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", message) is not None


def test_keys_deleted_and_re_added_at_once_wait_for_the_vault_and_end_right(world):
    emulator = world.emulator
    emulator.timing.delete_seconds = 0.0
    emulator.timing.purge_seconds = 3.0
    emulator.vault().set_secret("EXTRA-KEY", "deleted by hand long ago")
    emulator.vault().delete_secret("EXTRA-KEY")  # soft-deleted, to be purged by hand later
    emulator.timing.delete_seconds = 3.0
    values = {f"KEY_{i}": f"value-{i}" for i in range(10)}
    world.set_many(values)
    sync = world.create(is_enabled=False)  # runs when triggered: one run per step
    assert world.trigger(sync.id).sync_status == SUCCEEDED
    assert len(vault_contents(emulator)) == 10

    for key in values:
        world.delete(key)
    deleted = world.trigger(sync.id)
    assert deleted.sync_status == SUCCEEDED, deleted.last_sync_message
    assert "10 deleted" in deleted.last_sync_message
    # At once: every name's deletion is still running (3 s), EXTRA-KEY's purge too.
    emulator.vault().purge("EXTRA-KEY")
    readded = {**{f"KEY_{i}": f"again-{i}" for i in range(10)}, "EXTRA_KEY": "extra"}
    world.set_many(readded)
    shown = world.trigger(sync.id)

    message = shown.last_sync_message
    assert shown.sync_status == SUCCEEDED, message
    assert vault_contents(emulator) == {k.replace("_", "-"): v for k, v in readded.items()}
    assert message.startswith("11 created"), message
    waited = message.partition("waited for: ")[2]
    # The first keys (8 at a time) met the deletions still running; the later ones may
    # have come after them. Every deleted name was then recovered, and the purged one
    # waited for its purge.
    recovered = re.search(r"10 soft-deleted in the vault, recovered before writing \((.*?)\)",
                          waited)
    assert recovered and recovered[1] == ", ".join(f"KEY-{i}" for i in range(10)), waited
    still = re.search(r"(\d+) still being deleted or purged in the vault "
                      r"\(ObjectIsBeingDeleted\) \((.*?)\)", waited)
    assert still and int(still[1]) >= 2 and mentions(still[2], "EXTRA-KEY"), waited
    assert "again-" not in message


def test_certificates_and_forbidden_names_are_left_alone_and_named(world):
    emulator = world.emulator
    emulator.seed_certificate("TLS-CERT", "certificate one")  # a source key's name
    emulator.seed_certificate("WEB-CERT", "certificate two")  # vault only: would be deleted
    world.vault_put("STALE-RBAC", "untagged, in the schema")  # would be deleted
    emulator.deny("ForbiddenByRbac", permissions=["set", "delete"],
                  names=["RBAC-LOCKED", "STALE-RBAC"])
    emulator.deny("ForbiddenByPolicy", permissions=["set"], names=["POLICY-LOCKED"])
    emulator.deny("AccessDenied", permissions=["set"], names=["ACL-LOCKED"])
    world.set_many({"TLS_CERT": "mine", "RBAC_LOCKED": "r", "POLICY_LOCKED": "p",
                    "ACL_LOCKED": "a", "FINE": "ok"})

    shown = world.create()

    message = shown.last_sync_message
    assert shown.sync_status == FAILED, message
    assert vault_contents(emulator) == {
        "TLS-CERT": "certificate one",
        "WEB-CERT": "certificate two",
        "STALE-RBAC": "untagged, in the schema",
        "FINE": "ok",
    }
    left = message.partition("left in place: ")[2]
    assert "TLS-CERT (backs a certificate)" in left and "WEB-CERT (backs a certificate)" in left
    failed = message.partition("failed: ")[2].partition("; left in place")[0]
    assert re.search(r"RBAC_LOCKED, STALE-RBAC \(Forbidden \(ForbiddenByRbac\): .*Azure role",
                     failed), failed
    assert re.search(r"POLICY_LOCKED \(Forbidden \(ForbiddenByPolicy\): .*Azure Policy", failed)
    assert re.search(r"ACL_LOCKED \(Forbidden \(AccessDenied\): .*access policy", failed)
    assert not mentions(failed, "FINE") and not mentions(failed, "TLS-CERT")


def test_a_vault_behind_its_firewall_fails_the_job_saying_so(running, emulator):
    world = World(running, emulator)
    url = emulator.add_vault("walled")
    emulator.deny("ForbiddenByFirewall", vault="walled")
    world.set("A", "1")
    request = create_request(
        project_id=world.project_id,
        connection_id=world.connection_id,
        name="walled-sync",
        secret_path=PATH,
        destination_config=pb.AzureKeyVaultDestinationConfig(vault_base_url=url),
    )
    created = world.syncs.CreateSecretSync(request).secret_sync

    shown = world.wait(created.id, "sync_status")

    assert shown.sync_status == FAILED
    assert shown.last_sync_message.startswith(
        "vault: Forbidden (ForbiddenByFirewall): the vault's firewall refuses"
    ), shown.last_sync_message
    assert vault_contents(emulator, "walled") == {}
