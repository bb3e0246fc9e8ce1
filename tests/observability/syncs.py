"""One real sync into the emulator, through the public API, as the tests here need it."""

from __future__ import annotations

import grpc
from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from keyvault_emulator import KeyVaultEmulator
from tests.conftest import create_request, new_project
from tests.emulator.conftest import emulator_connection, eventually


def sync_to_emulator(
    channel: grpc.Channel,
    emulator: KeyVaultEmulator,
    secrets: dict[str, str],
    metadata: tuple[tuple[str, str], ...] = (),
) -> pb.SecretSync:
    """Create a sync of `secrets` into the emulator; the sync once its job succeeded."""
    project_id = new_project(channel)
    connection_id = emulator_connection(channel, project_id, emulator)
    sgrpc.SecretSourceServiceStub(channel).BulkSetSecrets(
        sapi.BulkSetSecretsRequest(
            project_id=project_id,
            environment="dev",
            path="/my-secrets",
            secrets=[spb.Secret(key=key, value=value) for key, value in secrets.items()],
        )
    )
    syncs = api_grpc.SecretSyncServiceStub(channel)
    sync = syncs.CreateSecretSync(
        create_request(
            project_id=project_id,
            connection_id=connection_id,
            destination_config=pb.AzureKeyVaultDestinationConfig(vault_base_url=emulator.url),
        ),
        metadata=metadata,
    ).secret_sync

    def finished() -> pb.SecretSync | None:
        shown = syncs.GetSecretSync(api.GetSecretSyncRequest(id=sync.id)).secret_sync
        done = shown.sync_status in (pb.JOB_STATUS_SUCCEEDED, pb.JOB_STATUS_FAILED)
        return shown if done else None

    shown = eventually(finished, timeout=60)
    assert shown.sync_status == pb.JOB_STATUS_SUCCEEDED, shown.last_sync_message
    return shown
