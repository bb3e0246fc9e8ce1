"""Every sync behaviour end to end: gRPC → worker → Azure SDK → emulator, on both stores.

Each test drives the public API only (SecretSourceService for secrets,
AzureConnectionService for the connection, SecretSyncService for syncs) against a
server whose worker runs the jobs with the real SDK; the emulator is the vault.
The engine-level versions of these behaviours are in test_sync_engine.py.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator

import pytest
from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb

from domain.plan import OWNER_TAG
from keyvault_emulator import KeyVaultEmulator
from keyvault_emulator.counters import OUTCOMES
from keyvault_emulator.errors import ApiError
from keyvault_emulator.ratelimit import RateLimit
from keyvault_emulator.store import Version
from tests.emulator.conftest import eventually, vault_value
from tests.emulator.world import World

SUCCEEDED, FAILED, RUNNING = pb.JOB_STATUS_SUCCEEDED, pb.JOB_STATUS_FAILED, pb.JOB_STATUS_RUNNING


class VaultClock:
    """The emulator's wall clock, which a test may move forward. Key Vault's `updated`
    has whole seconds, so an edit made in the same second as the sync's write would
    look unchanged; a real edit by hand comes later."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def vault_clock() -> VaultClock:
    return VaultClock()


@pytest.fixture
def emulator(vault_clock: VaultClock) -> Iterator[KeyVaultEmulator]:
    """Overrides conftest's `emulator` (which `running` uses): the same, with vault_clock."""
    with KeyVaultEmulator(clock=vault_clock) as running:
        yield running


@pytest.fixture
def world(running, emulator) -> World:
    return World(running, emulator)


def canary() -> str:
    return f"canary-value-{uuid.uuid4()}"


def stored(emulator: KeyVaultEmulator, name: str) -> Version:
    """The latest version of a vault secret, disabled or not (no GET through the API)."""
    return emulator.vault().get_secret(name, for_value=False).version


def vault_contents(emulator: KeyVaultEmulator) -> dict[str, str]:
    """Every live secret's name (as first written) and value."""
    page = emulator.vault().list_secrets(None, 100_000)
    return {s.name: s.version.value for s in page.items}


def _deleted(emulator: KeyVaultEmulator, name: str) -> bool:
    try:
        return bool(emulator.vault().get_deleted(name))
    except ApiError:
        return False


def mentions(message: str, name: str) -> bool:
    """`name` appears in the message as a whole name (not inside a longer one)."""
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", message) is not None


def requests_sent(emulator: KeyVaultEmulator) -> dict[str, int]:
    """What clients sent since the last reset, by kind (outcome counters left out)."""
    return {
        kind: n
        for kind, n in emulator.counts().items()
        if n and kind != "total" and kind not in OUTCOMES
    }


# 1 -------------------------------------------------------------------------------------


def test_underscores_become_hyphens_and_secrets_carry_the_owner_tag(world):
    world.set("DB_HOST", "db.internal")

    sync = world.create()

    assert sync.sync_status == SUCCEEDED, sync.last_sync_message
    assert vault_contents(world.emulator) == {"DB-HOST": "db.internal"}
    assert stored(world.emulator, "DB-HOST").tags == {OWNER_TAG: sync.id}


# 2 -------------------------------------------------------------------------------------


def test_keys_colliding_after_conversion_or_by_case_fail_the_job_and_write_nothing(world):
    world.set_many({"A_B": "1", "A-B": "2", "key": "3", "KEY": "4", "FINE": "5"})
    world.emulator.reset_counts()

    sync = world.create()

    assert sync.sync_status == FAILED
    assert vault_contents(world.emulator) == {}
    sent = requests_sent(world.emulator)
    assert "set" not in sent and "delete" not in sent and "recover" not in sent
    message = sync.last_sync_message
    assert message.startswith("nothing written"), message
    for key in ("A_B", "A-B", "key", "KEY"):
        assert mentions(message, key), (key, message)
    assert not mentions(message, "FINE")


# 3 -------------------------------------------------------------------------------------


def test_an_invalid_vault_name_and_a_too_large_value_fail_alone(world):
    long_key = "K" * 124  # "app-" + 124 characters = 128: one more than Key Vault allows
    world.set_many(
        {long_key: "x", "HUGE": "h" * 25_601, "AT_LIMIT": "a" * 25_600, "FINE": "ok"}
    )

    sync = world.create(key_schema="app-{{secretKey}}")

    assert sync.sync_status == FAILED
    assert vault_contents(world.emulator) == {"app-AT-LIMIT": "a" * 25_600, "app-FINE": "ok"}
    failed = sync.last_sync_message.partition("failed:")[2]
    assert mentions(failed, long_key) and mentions(failed, "HUGE"), sync.last_sync_message
    assert not mentions(failed, "FINE") and not mentions(failed, "AT_LIMIT")


# 4 -------------------------------------------------------------------------------------


def test_a_soft_deleted_name_is_recovered_then_set(world):
    world.vault_put("DB-HOST", "old")
    world.emulator.vault().delete_secret("DB-HOST")  # soft delete: the name is not free
    world.set("DB_HOST", "new")
    world.emulator.reset_counts()

    sync = world.create()

    assert sync.sync_status == SUCCEEDED, sync.last_sync_message
    assert vault_contents(world.emulator) == {"DB-HOST": "new"}
    assert stored(world.emulator, "DB-HOST").tags == {OWNER_TAG: sync.id}
    assert requests_sent(world.emulator).get("recover") == 1


# 5 -------------------------------------------------------------------------------------


def _disabled_in_the_vault(world: World) -> dict[str, Version]:
    """DB-HOST (matches source key DB_HOST) and STALE (untagged, in the schema: a first
    overwrite-destination run would delete it), both disabled in the vault."""
    for name in ("DB-HOST", "STALE"):
        world.vault_put(name, "set by hand")
        world.emulator.vault().update_secret(name, enabled=False)
    return {name: stored(world.emulator, name) for name in ("DB-HOST", "STALE")}


def test_a_disabled_vault_secret_is_never_read_overwritten_or_deleted(world):
    before = _disabled_in_the_vault(world)
    world.set_many({"DB_HOST": canary(), "OTHER": "o"})
    world.emulator.reset_counts()

    sync = world.create()
    again = world.trigger(sync.id)  # a later run leaves them too

    assert {name: stored(world.emulator, name) for name in before} == before
    sent = requests_sent(world.emulator)
    assert "get" not in sent and "delete" not in sent, sent
    assert sent["set"] == 1  # OTHER, once
    assert vault_value(world.emulator, "OTHER") == "o"
    assert again.sync_status in (SUCCEEDED, FAILED)


def test_a_disabled_vault_secret_is_reported(world):
    _disabled_in_the_vault(world)
    world.set_many({"DB_HOST": canary(), "OTHER": "o"})

    sync = world.create()

    message = sync.last_sync_message
    assert "disabled" in message, message
    assert mentions(message, "DB-HOST") and mentions(message, "STALE"), message


# 6 -------------------------------------------------------------------------------------


def test_key_schemas_shape_names_and_secrets_outside_them_are_never_touched(world):
    world.vault_put("DB-HOST", "outside every schema")  # the bare key's name
    world.vault_put("unrelated", "outside every schema")
    world.vault_put("my-app-OLD", "untagged, inside my_app_{{secretKey}} once converted")
    outside = {name: stored(world.emulator, name) for name in ("DB-HOST", "unrelated")}
    world.set("DB_HOST", "db.internal")

    syncs = [
        world.create(name="app", key_schema="app-{{secretKey}}"),
        world.create(name="per-env", key_schema="{{environment}}-{{secretKey}}"),
        world.create(name="underscores", key_schema="my_app_{{secretKey}}"),
    ]
    # The first run of "app" deleted nothing outside its schema; let another pass prove
    # later runs also leave them.
    syncs[0] = world.trigger(syncs[0].id)

    for sync in syncs:
        assert sync.sync_status == SUCCEEDED, (sync.name, sync.last_sync_message)
        assert "owned by another sync" not in sync.last_sync_message
    assert vault_contents(world.emulator) == {
        "DB-HOST": "outside every schema",
        "unrelated": "outside every schema",
        "app-DB-HOST": "db.internal",
        "dev-DB-HOST": "db.internal",
        "my-app-DB-HOST": "db.internal",
        # my-app-OLD matched the converted schema: the first overwrite run deleted it
    }
    assert {name: stored(world.emulator, name) for name in outside} == outside


# 7 -------------------------------------------------------------------------------------


def test_with_secret_deletion_disabled_a_deleted_source_secret_stays_in_the_vault(world):
    world.set_many({"A": "1", "B": "2"})
    sync = world.create(disable_secret_deletion=True)

    world.delete("B")
    world.set("C", "3")  # any run that writes C has seen B gone
    eventually(lambda: vault_value(world.emulator, "C") == "3")
    shown = world.wait(sync.id, "sync_status")

    assert shown.sync_status == SUCCEEDED, shown.last_sync_message
    assert vault_contents(world.emulator) == {"A": "1", "B": "2", "C": "3"}
    assert world.source_values() == {"A": "1", "C": "3"}


# 8 -------------------------------------------------------------------------------------


def test_overwrite_destination_deletes_unmanaged_secrets_on_the_first_run_only(world):
    world.vault_put("STALE", "untagged, before the first run")
    world.set("A", "1")

    sync = world.create(pb.INITIAL_SYNC_BEHAVIOR_OVERWRITE_DESTINATION)

    assert sync.sync_status == SUCCEEDED, sync.last_sync_message
    assert vault_contents(world.emulator) == {"A": "1"}
    # Soft-deleted, not purged: in the deleted collection once Key Vault's deletion,
    # which runs on after the sync, has finished.
    eventually(lambda: _deleted(world.emulator, "STALE"))

    world.vault_put("BY-HAND", "untagged, after the first run")
    later = world.trigger(sync.id)

    assert later.sync_status == SUCCEEDED, later.last_sync_message
    assert vault_contents(world.emulator) == {"A": "1", "BY-HAND": "untagged, after the first run"}


# 9 -------------------------------------------------------------------------------------


def test_two_syncs_on_one_vault_never_delete_each_others_secrets(running, emulator):
    world = World(running, emulator, folders=("/team-a", "/team-b"))
    world.set_many({"SHARED": "from-a", "A_ONLY": "a"}, path="/team-a")
    world.set_many({"SHARED": "from-b", "B_ONLY": "b"}, path="/team-b")

    a = world.create(name="team-a", secret_path="/team-a")
    b = world.create(name="team-b", secret_path="/team-b")  # first run: overwrite destination
    a = world.trigger(a.id)

    assert vault_contents(emulator) == {"SHARED": "from-a", "A-ONLY": "a", "B-ONLY": "b"}
    assert stored(emulator, "SHARED").tags == {OWNER_TAG: a.id}
    assert stored(emulator, "B-ONLY").tags == {OWNER_TAG: b.id}
    overlap_b = b.last_sync_message.partition("owned by another sync:")[2]
    assert mentions(overlap_b, "SHARED") and mentions(overlap_b, "A-ONLY"), b.last_sync_message
    overlap_a = a.last_sync_message.partition("owned by another sync:")[2]
    assert mentions(overlap_a, "B-ONLY"), a.last_sync_message


# 10 ------------------------------------------------------------------------------------


def test_only_changes_are_written_and_drift_in_the_vault_is_corrected(world, vault_clock):
    world.set_many({"A": "1", "B": "2", "C": "3"})
    sync = world.create()

    world.emulator.reset_counts()
    noop = world.trigger(sync.id)
    assert noop.sync_status == SUCCEEDED, noop.last_sync_message
    sent = requests_sent(world.emulator)
    assert "list" in sent and set(sent) <= {"list", "token", "discovery"}, sent

    world.emulator.reset_counts()
    world.set("B", "changed")  # auto-sync: only B is written
    eventually(lambda: vault_value(world.emulator, "B") == "changed")
    world.wait(sync.id, "sync_status")
    sent = requests_sent(world.emulator)
    assert sent.get("set") == 1 and "get" not in sent, sent

    vault_clock.offset = 5.0  # edited by hand, later than the sync wrote
    world.vault_put("A", "edited by hand", tags={OWNER_TAG: sync.id})
    world.emulator.reset_counts()
    fixed = world.trigger(sync.id)

    assert fixed.sync_status == SUCCEEDED, fixed.last_sync_message
    assert vault_contents(world.emulator) == {"A": "1", "B": "changed", "C": "3"}
    sent = requests_sent(world.emulator)
    assert sent.get("get") == 1 and sent.get("set") == 1, sent  # A re-read, then corrected


# 11 ------------------------------------------------------------------------------------


def test_a_burst_of_100_changes_gives_at_most_two_runs(world):
    sync = world.create()  # on an empty folder: no change is waiting to request a run
    before = world.get(sync.id).version
    values = {f"KEY_{i:03}": f"value-{i}" for i in range(100)}

    for key, value in values.items():
        world.set(key, value)
    expected = {key.replace("_", "-"): value for key, value in values.items()}
    eventually(lambda: vault_contents(world.emulator) == expected)
    shown = world.wait(sync.id, "sync_status")

    assert shown.sync_status == SUCCEEDED, shown.last_sync_message
    runs = {  # every version of the sync since the burst began, from its history
        then.last_sync_job_id
        for version in range(before + 1, shown.version + 1)
        if (then := world.get(sync.id, as_of_version=version)).sync_status == RUNNING
    }
    assert 1 <= len(runs) <= 2, runs


# 12 ------------------------------------------------------------------------------------


def test_changes_through_an_import_reach_the_vault_and_deletions_follow(running, emulator):
    world = World(running, emulator, folders=("/my-secrets", "/shared"))
    world.set("OWN", "own")
    world.set("SHARED_KEY", "v1", path="/shared")
    sync = world.create()
    assert vault_contents(emulator) == {"OWN": "own"}

    world.source.CreateSecretImport(
        sapi.CreateSecretImportRequest(
            project_id=world.project_id,
            environment="dev",
            path="/my-secrets",
            secret_import=spb.SecretImport(environment="dev", path="/shared"),
        )
    )
    eventually(lambda: vault_value(emulator, "SHARED-KEY") == "v1")
    world.set("SHARED_KEY", "v2", path="/shared")  # a change in the imported folder
    eventually(lambda: vault_value(emulator, "SHARED-KEY") == "v2")
    world.delete("SHARED_KEY", path="/shared")
    world.delete("OWN")
    eventually(lambda: vault_contents(emulator) == {})

    shown = world.wait(sync.id, "sync_status")
    assert shown.sync_status == SUCCEEDED, shown.last_sync_message


# 13 ------------------------------------------------------------------------------------


def test_throttled_writes_are_retried_after_retry_after_and_all_succeed(world):
    world.emulator.faults.set_rate_limit(RateLimit(sets=20, total=4000, window_seconds=2.0))
    values = {f"KEY_{i:02}": f"value-{i}" for i in range(60)}
    world.set_many(values)

    sync = world.create()

    assert sync.sync_status == SUCCEEDED, sync.last_sync_message
    assert "failed" not in sync.last_sync_message
    assert vault_contents(world.emulator) == {k.replace("_", "-"): v for k, v in values.items()}
    assert world.emulator.counts().get("throttled", 0) > 0  # 429s did happen


# 14 ------------------------------------------------------------------------------------


def test_transient_faults_are_retried_and_the_job_succeeds(world):
    faults = world.emulator.faults
    faults.fail_next(2, 503)  # the listing's first attempts
    faults.drop_next(1)  # then a connection closed without an answer
    faults.fail_next(2, 502, kinds=["set"])
    world.set_many({"A": "1", "B": "2", "C": "3"})

    sync = world.create()

    assert sync.sync_status == SUCCEEDED, sync.last_sync_message
    assert vault_contents(world.emulator) == {"A": "1", "B": "2", "C": "3"}
    counts = world.emulator.counts()
    assert counts.get("injected") == 4 and counts.get("dropped") == 1, counts


# 15 ------------------------------------------------------------------------------------


def test_a_missing_permission_fails_naming_the_code_and_keys_never_values(world):
    emulator = world.emulator
    emulator.set_permissions(emulator.client_id, ["list", "get", "delete", "recover"])
    values = {"DB_PASSWORD": canary(), "API_KEY": canary()}
    world.set_many(values)

    sync = world.create()

    assert sync.sync_status == FAILED
    message = sync.last_sync_message
    assert "Forbidden" in message, message
    assert mentions(message, "DB_PASSWORD") and mentions(message, "API_KEY"), message
    assert "canary-value" not in message
    assert emulator.client_secret not in message
    assert vault_contents(emulator) == {}
