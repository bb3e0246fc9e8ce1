"""The vault misbehaving longer than one job can wait: the job fails, is retried by itself
(with backoff, shown on the sync, in the audit and the CLI), and the vault converges,
with nobody triggering anything.

- the vault answers 503 for longer than the adapter's own retries;
- keys deleted in the source and added back within Key Vault's delete window (409
  ObjectIsBeingDeleted for the re-adds).
"""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

import grpc
import pytest
from hanzo.kms.secretsync.v1 import audit_service_pb2 as audit_api
from hanzo.kms.secretsync.v1 import audit_service_pb2_grpc as audit_grpc
from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from domain.secret_sync import RETRY, SecretSync
from keyvault_emulator import KeyVaultEmulator
from service.cli.sync_display import details
from service.server import SecretSyncServer
from tests.conftest import create_request, new_project, start_server
from tests.emulator.conftest import emulator_connection
from tests.faults.conftest import eventually

SECRETS = 10
DELETE_WINDOW_SECONDS = 4.0


@pytest.fixture
def vault() -> Iterator[KeyVaultEmulator]:
    with KeyVaultEmulator() as emulator:
        yield emulator


@pytest.fixture
def server(tmp_path, vault, monkeypatch) -> Iterator[SecretSyncServer]:
    monkeypatch.setenv("SECRET_SYNC_CA_BUNDLE", str(vault.ca_path))
    served = start_server(f"sqlite:///{tmp_path}/store.sqlite", run_jobs=True,
                          job_retry_seconds=1.0)
    yield served
    served.stop(grace=1.0)


def vault_values(vault: KeyVaultEmulator) -> dict[str, str]:
    return {s.name: s.version.value for s in vault.vault().list_secrets(None, 10_000).items}


def source_secrets() -> dict[str, str]:
    return {f"KEY_{n}": f"value-{n}" for n in range(SECRETS)}


def in_vault(secrets: dict[str, str]) -> dict[str, str]:
    return {key.replace("_", "-"): value for key, value in secrets.items()}


def new_sync(channel: grpc.Channel, vault: KeyVaultEmulator) -> tuple[str, pb.SecretSync]:
    project_id = new_project(channel)
    sgrpc.SecretSourceServiceStub(channel).BulkSetSecrets(sapi.BulkSetSecretsRequest(
        project_id=project_id, environment="dev", path="/my-secrets",
        secrets=[spb.Secret(key=k, value=v) for k, v in source_secrets().items()]))
    sync = api_grpc.SecretSyncServiceStub(channel).CreateSecretSync(create_request(
        project_id=project_id, connection_id=emulator_connection(channel, project_id, vault),
        destination_config=pb.AzureKeyVaultDestinationConfig(vault_base_url=vault.url),
    )).secret_sync
    return project_id, sync


def events(server: SecretSyncServer, sync_id: str) -> list[SecretSync.Event]:
    return list(server.app.events.get(UUID(sync_id)))


def test_a_vault_down_longer_than_a_job_retries_is_synced_by_a_retry(server, vault):
    vault.faults.fail_fraction(1.0, 503)  # every vault request fails, for now
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        syncs = api_grpc.SecretSyncServiceStub(channel)
        project_id, sync = new_sync(channel, vault)

        def shown() -> pb.SecretSync:
            return syncs.GetSecretSync(api.GetSecretSyncRequest(id=sync.id)).secret_sync

        failed = eventually(lambda: (s := shown()).sync_retry_attempt and s, 120)
        assert failed.sync_status == pb.JOB_STATUS_FAILED
        assert failed.sync_retry_attempt == 1 and failed.HasField("next_sync_retry_time")
        assert "retry 1 of 5" in failed.last_sync_message
        assert "sync retry" in details(failed) and "retry 1 at" in details(failed)

        vault.faults.clear()  # the vault is back; nobody triggers anything
        done = eventually(lambda: (s := shown()).sync_status == pb.JOB_STATUS_SUCCEEDED and s,
                          120)
        assert done.sync_retry_attempt == 0 and not done.HasField("next_sync_retry_time")
        assert vault_values(vault) == in_vault(source_secrets())
        requested = [e for e in events(server, sync.id)
                     if isinstance(e, SecretSync.SyncRequested)]
        assert RETRY in [e.reason for e in requested]

        audit = audit_grpc.AuditServiceStub(channel).ListAuditEvents(
            audit_api.ListAuditEventsRequest(project_id=project_id, resource_id=sync.id,
                                             page_size=100)).events
        assert any(e.summary.details.get("retry_attempt") == "1" for e in audit)


def test_keys_deleted_and_added_back_in_the_delete_window_converge_without_a_trigger(
    server, vault
):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        syncs = api_grpc.SecretSyncServiceStub(channel)
        source = sgrpc.SecretSourceServiceStub(channel)
        project_id, sync = new_sync(channel, vault)
        eventually(lambda: vault_values(vault) == in_vault(source_secrets()), 60)

        vault.vaults.timing.delete_seconds = DELETE_WINDOW_SECONDS  # Key Vault deletes slowly
        for key in source_secrets():
            source.DeleteSecret(sapi.DeleteSecretRequest(
                project_id=project_id, environment="dev", path="/my-secrets", key=key))
        eventually(lambda: not vault_values(vault), 60)  # deleted (still being deleted)
        source.BulkSetSecrets(sapi.BulkSetSecretsRequest(  # added back at once
            project_id=project_id, environment="dev", path="/my-secrets",
            secrets=[spb.Secret(key=k, value=v) for k, v in source_secrets().items()]))

        eventually(lambda: vault_values(vault) == in_vault(source_secrets()), 120)
        eventually(lambda: syncs.GetSecretSync(api.GetSecretSyncRequest(id=sync.id))
                   .secret_sync.sync_status == pb.JOB_STATUS_SUCCEEDED, 60)
        manual = [e for e in events(server, sync.id)
                  if isinstance(e, SecretSync.SyncRequested) and e.reason == "manual"]
        assert not manual  # nobody pressed a button


def test_a_missing_permission_is_not_retried_until_someone_acts(server, vault):
    vault.principals.set_permissions(vault.client_id, ["get"])  # may not list or set
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        syncs = api_grpc.SecretSyncServiceStub(channel)
        _, sync = new_sync(channel, vault)
        failed = eventually(lambda: (s := syncs.GetSecretSync(api.GetSecretSyncRequest(
            id=sync.id)).secret_sync).sync_status == pb.JOB_STATUS_FAILED and s, 60)
        assert failed.sync_retry_attempt == 0 and not failed.HasField("next_sync_retry_time")
        assert "Forbidden" in failed.last_sync_message and "retry" not in failed.last_sync_message

        vault.principals.set_permissions(vault.client_id, None)  # fixed; a user triggers
        syncs.TriggerSecretSync(api.TriggerSecretSyncRequest(id=sync.id))
        eventually(lambda: vault_values(vault) == in_vault(source_secrets()), 60)
        requested = [e.reason for e in events(server, sync.id)
                     if isinstance(e, SecretSync.SyncRequested)]
        assert RETRY not in requested
