"""The production authentication path end to end: the sync's vault is
https://emulator.vault.azure.net (mapped to the emulator in this process), so the SDK's
challenge-resource verification runs as it does against Azure."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.keyvault.secrets._shared import http_challenge_cache
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb

from keyvault_emulator import KeyVaultEmulator
from keyvault_emulator.host_names import vault_host_names
from tests.conftest import create_request
from tests.emulator.world import PATH, World

NAMES = ("*.vault.azure.net", "*.vault.azure.cn")


@pytest.fixture
def emulator() -> Iterator[KeyVaultEmulator]:
    """Overrides conftest's: the certificate names the production-shaped hosts."""
    with KeyVaultEmulator(dns_names=NAMES) as running:
        yield running


@pytest.fixture
def url_of(emulator):
    # The SDK keeps each host's challenge for the whole process: an earlier test's would
    # let this one skip the 401, and with it the check.
    http_challenge_cache.clear()
    with vault_host_names(emulator, ("vault.azure.net", "vault.azure.cn")) as url_of:
        yield url_of


def sync_to(world: World, url: str, name: str) -> pb.SecretSync:
    request = create_request(
        project_id=world.project_id,
        connection_id=world.connection_id,
        name=name,
        secret_path=PATH,
        destination_config=pb.AzureKeyVaultDestinationConfig(vault_base_url=url),
    )
    created = world.syncs.CreateSecretSync(request).secret_sync
    return world.wait(created.id, "sync_status")


def test_a_sync_to_a_vault_azure_net_host_passes_the_challenge_check(running, emulator, url_of):
    world = World(running, emulator)
    world.set_many({"DB_PASSWORD": "p", "API_KEY": "k"})

    shown = sync_to(world, url_of("emulator"), "public-cloud")

    assert shown.sync_status == pb.JOB_STATUS_SUCCEEDED, shown.last_sync_message
    page = emulator.vault("emulator").list_secrets(None, 25)
    assert {s.name: s.version.value for s in page.items} == {"DB-PASSWORD": "p", "API-KEY": "k"}
    assert emulator.counts().get("challenge", 0) >= 1  # the SDK went through the 401


def test_a_challenge_for_another_cloud_is_refused_by_the_sdk(running, emulator, url_of):
    # The emulator's challenge names https://vault.azure.net: a vault under
    # vault.azure.cn must not send its token there. The check runs, so the job fails.
    world = World(running, emulator)
    world.set("A", "1")

    shown = sync_to(world, url_of("emulator", "vault.azure.cn"), "china-cloud")

    assert shown.sync_status == pb.JOB_STATUS_FAILED
    assert shown.last_sync_message.startswith("vault: ChallengeResourceMismatch: "), (
        shown.last_sync_message
    )
    assert emulator.vault("emulator").list_secrets(None, 25).items == []
