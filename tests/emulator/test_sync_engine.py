"""The sync engine with the real SDK adapter against the emulator."""

from __future__ import annotations

import hashlib
import time

import pytest
from azure.identity import ClientSecretCredential

from adapters.azure_key_vault import AzureKeyVault
from domain.options import InitialSyncBehavior
from domain.plan import OWNER_TAG, ManagedKey, SyncTarget
from domain.resolve import Resolution
from keyvault_emulator import KeyVaultEmulator
from service.jobs.sync_engine import Outcome, SyncEngine

TARGET = SyncTarget(sync_id="sync-1", environment="dev", key_schema="app-{{secretKey}}")


def fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture
def vault(emulator: KeyVaultEmulator) -> AzureKeyVault:
    return AzureKeyVault(
        emulator.url,
        ClientSecretCredential(**emulator.credential_kwargs()),
        connection_verify=str(emulator.ca_path),
        verify_challenge_resource=False,
    )


class Sync:
    """Runs the engine like a job would, keeping the managed state between runs."""

    def __init__(self, vault: AzureKeyVault, target: SyncTarget = TARGET) -> None:
        self.vault, self.target = vault, target
        self.managed: dict[str, ManagedKey] = {}

    def run(self, values: dict[str, str], problems: dict[str, str] | None = None) -> Outcome:
        outcome = SyncEngine().sync(
            Resolution(values, problems or {}), self.vault, self.managed, self.target,
            fingerprint,
        )
        for lower, entry in outcome.managed.items():
            if entry is None:
                self.managed.pop(lower, None)
            else:
                self.managed[lower] = ManagedKey(*entry)
        return outcome


def vault_values(vault: AzureKeyVault) -> dict[str, str]:
    return {s.name: vault.get_value(s.name) for s in vault.list_secrets() if s.enabled}


def test_first_sync_writes_converted_names_tagged_with_the_sync(vault):
    outcome = Sync(vault).run({"DB_HOST": "db", "API_KEY": "k"})
    assert outcome.succeeded and outcome.counts["created"] == 2
    assert vault_values(vault) == {"app-DB-HOST": "db", "app-API-KEY": "k"}
    assert {s.tags[OWNER_TAG] for s in vault.list_secrets()} == {"sync-1"}


def test_a_resync_with_no_changes_reads_only_the_listing(vault, emulator):
    sync = Sync(vault)
    sync.run({f"K{i}": f"v{i}" for i in range(30)})  # two listing pages
    emulator.reset_counts()
    outcome = sync.run({f"K{i}": f"v{i}" for i in range(30)})
    counts = emulator.counts()
    assert outcome.counts == {"unchanged": 30}
    assert counts.get("get", 0) == 0 and counts.get("set", 0) == 0
    assert counts["list"] == 2


def test_changed_values_are_written_and_removed_keys_deleted(vault):
    sync = Sync(vault)
    sync.run({"A": "1", "B": "2"})
    outcome = sync.run({"A": "changed"})
    assert outcome.counts["updated"] == 1 and outcome.counts["deleted"] == 1
    assert vault_values(vault) == {"app-A": "changed"}


def test_drift_in_the_vault_is_read_and_corrected(vault, emulator):
    sync = Sync(vault)
    sync.run({"A": "1"})
    # Key Vault's `updated` has whole seconds: edit "later" by moving the vault's clock.
    store = emulator.vault()
    store._clock = lambda: time.time() + 5
    vault.set_secret("app-A", "edited by hand", {OWNER_TAG: "sync-1"})
    outcome = sync.run({"A": "1"})
    assert outcome.counts["updated"] == 1
    assert vault_values(vault) == {"app-A": "1"}


def test_unmanaged_secrets_and_other_syncs_secrets_are_never_deleted(vault):
    vault.set_secret("app-MINE-BY-HAND", "x", {})
    vault.set_secret("app-THEIRS", "y", {OWNER_TAG: "sync-2"})
    vault.set_secret("unrelated", "z", {})
    outcome = Sync(vault).run({"A": "1"})
    assert outcome.succeeded
    assert set(vault_values(vault)) == {"app-A", "app-MINE-BY-HAND", "app-THEIRS", "unrelated"}


def test_first_sync_with_overwrite_deletes_untagged_secrets_in_the_schema(vault):
    vault.set_secret("app-STALE", "x", {})
    vault.set_secret("unrelated", "z", {})
    target = SyncTarget("sync-1", "dev", "app-{{secretKey}}", first_run=True,
                        initial_sync_behavior=InitialSyncBehavior.OVERWRITE_DESTINATION)
    Sync(vault, target).run({"A": "1"})
    assert set(vault_values(vault)) == {"app-A", "unrelated"}


def test_disabled_secrets_are_never_read_or_written(vault, emulator):
    sync = Sync(vault)
    sync.run({"A": "1"})
    emulator.vault().update_secret("app-A", "", enabled=False)
    emulator.reset_counts()
    outcome = sync.run({"A": "2"})
    assert emulator.counts().get("get", 0) == 0 and emulator.counts().get("set", 0) == 0
    assert next(s.reason for s in outcome.plan.steps if s.name == "app-A").startswith("disabled")


def test_a_soft_deleted_name_is_recovered_then_written(vault):
    vault.set_secret("app-A", "old", {})
    vault.delete_secret("app-A")
    outcome = Sync(vault).run({"A": "new"})
    assert outcome.succeeded
    assert vault_values(vault) == {"app-A": "new"}


def test_collisions_block_the_sync_before_anything_is_written(vault, emulator):
    emulator.reset_counts()
    outcome = Sync(vault).run({"DB_HOST": "1", "db-host": "2", "OK": "3"})
    assert not outcome.succeeded and "DB_HOST" in outcome.message()
    assert emulator.counts().get("set", 0) == 0


def test_one_failing_key_does_not_stop_the_others_and_no_value_is_reported(vault, emulator):
    vault.set_secret("app-B", "old", {})
    vault.delete_secret("app-B")  # soft-deleted: writing B needs a recover...
    emulator.set_permissions(emulator.client_id, ["list", "get", "set", "delete"])  # ...denied
    outcome = Sync(vault).run({"A": "CANARY-1", "B": "CANARY-2", "C": "CANARY-3"})
    assert outcome.failed["B"].startswith("Forbidden (AccessDenied): the vault's access policy")
    assert outcome.counts["created"] == 2
    assert "B (Forbidden (AccessDenied)" in outcome.message()
    assert "CANARY" not in outcome.message()



def test_a_name_still_being_purged_fails_alone_after_the_bounded_wait(vault, emulator):
    emulator.timing.delete_seconds = 0.0
    emulator.timing.purge_seconds = 60.0  # longer than this engine waits
    emulator.vault().set_secret("app-GONE", "old")
    emulator.vault().delete_secret("app-GONE")
    emulator.vault().purge("app-GONE")
    engine = SyncEngine(being_deleted_wait=1.0)
    outcome = engine.sync(
        Resolution({"GONE": "new", "OK": "fine"}, {}), vault, {}, TARGET, fingerprint
    )
    assert outcome.counts["created"] == 1 and vault.get_value("app-OK") == "fine"
    assert outcome.failed == {
        "GONE": "ObjectIsBeingDeleted: still being deleted or purged in the vault after 1 s; "
        "the next sync retries it"
    }
    assert "waited for: 1 still being deleted or purged" in outcome.message()
