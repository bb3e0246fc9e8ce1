"""Drift repair end to end: a sync with a refresh interval runs again when it has passed,
puts back a value edited in the vault by hand, and reads only the listing when nothing
drifted. gRPC → worker → Azure SDK → emulator."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb

from domain.plan import OWNER_TAG
from keyvault_emulator import KeyVaultEmulator
from tests.emulator.conftest import eventually, vault_value
from tests.emulator.world import World

INTERVAL = 3  # seconds; a development-mode server accepts 2 or more


class VaultClock:
    """Key Vault's `updated` has whole seconds: an edit by hand comes later than the
    sync's write, so the test moves the vault's clock on instead of sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def vault_clock() -> VaultClock:
    return VaultClock()


@pytest.fixture
def emulator(vault_clock: VaultClock) -> Iterator[KeyVaultEmulator]:
    with KeyVaultEmulator(clock=vault_clock) as running:
        yield running


@pytest.fixture
def world(running, emulator) -> World:
    return World(running, emulator)


def next_run(world: World, sync_id: str, after_job: str) -> pb.SecretSync:
    """The sync once a run requested after `after_job` has finished."""

    def finished() -> pb.SecretSync | None:
        shown = world.get(sync_id)
        done = shown.sync_status in (pb.JOB_STATUS_SUCCEEDED, pb.JOB_STATUS_FAILED)
        return shown if done and shown.last_sync_job_id != after_job else None

    return eventually(finished, timeout=INTERVAL + 20)


def test_a_value_edited_by_hand_is_put_back_and_quiet_runs_only_list(world, vault_clock):
    world.set_many({"DB_PASSWORD": "right", "API_KEY": "key"})
    created = world.create(refresh_interval_seconds=INTERVAL)
    assert created.sync_status == pb.JOB_STATUS_SUCCEEDED, created.last_sync_message
    assert created.sync_options.refresh_interval_seconds == INTERVAL

    world.emulator.reset_counts()
    quiet = next_run(world, created.id, created.last_sync_job_id)  # nothing changed at all
    sent = world.emulator.counts()
    assert quiet.sync_status == pb.JOB_STATUS_SUCCEEDED, quiet.last_sync_message
    assert quiet.last_sync_message == "2 unchanged"
    assert sent.get("list", 0) >= 1 and sent.get("get", 0) == 0 and sent.get("set", 0) == 0

    before = world.get(created.id).version
    vault_clock.offset += 10
    world.emulator.vault().set_secret(
        "DB-PASSWORD", "edited by hand", tags={OWNER_TAG: created.id}
    )
    eventually(lambda: vault_value(world.emulator, "DB-PASSWORD") == "right",
               timeout=INTERVAL + 20)
    assert vault_value(world.emulator, "API-KEY") == "key"

    def messages() -> list[str]:
        """Every run's message since the edit, from the sync's history: the run that put
        the value back may already be followed by a quiet one."""
        latest = world.get(created.id).version
        return [
            world.get(created.id, as_of_version=version).last_sync_message
            for version in range(before + 1, latest + 1)
        ]

    # Its outcome is recorded just after the write.
    eventually(lambda: "1 unchanged, 1 updated" in messages(), timeout=20)


def test_no_refresh_without_an_interval(world):
    world.set("A", "1")
    off = world.create(name="no-interval")
    world.emulator.reset_counts()
    time.sleep(INTERVAL + 2)  # longer than an interval would be: nothing may run
    assert world.get(off.id).last_sync_job_id == off.last_sync_job_id
    assert world.emulator.counts().get("list", 0) == 0


def test_a_refresh_interval_out_of_bounds_is_invalid_argument_naming_the_field(world):
    with pytest.raises(grpc.RpcError) as refused:
        world.create(refresh_interval_seconds=1)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "sync_options.refresh_interval_seconds" in refused.value.details()
