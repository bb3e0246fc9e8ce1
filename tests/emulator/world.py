"""World: one project with a connection to the emulator, driven through the public gRPC API.

Shared by the end-to-end tests (gRPC → worker → Azure SDK → emulator): the secret
source to set secrets, the sync service to create, trigger and read syncs, and
direct access to the emulator's vault to arrange or inspect the destination.
"""

from __future__ import annotations

import grpc
from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from tests.conftest import create_request, new_project
from tests.emulator.conftest import emulator_connection, eventually

PATH = "/my-secrets"
FOLDER = {"environment": "dev", "path": PATH}
DONE = (pb.JOB_STATUS_SUCCEEDED, pb.JOB_STATUS_FAILED)


class World:
    """One project with a connection to the emulator, and helpers to drive it."""

    def __init__(
        self, channel: grpc.Channel, emulator, folders: tuple[str, ...] = (PATH,)
    ) -> None:
        self.emulator = emulator
        self.project_id = new_project(channel, folders)
        self.connection_id = emulator_connection(channel, self.project_id, emulator)
        self.source = sgrpc.SecretSourceServiceStub(channel)
        self.syncs = api_grpc.SecretSyncServiceStub(channel)

    # --- the source --------------------------------------------------------------

    def set(self, key: str, value: str, path: str = PATH) -> None:
        secret = spb.Secret(key=key, value=value)
        self.source.SetSecret(
            sapi.SetSecretRequest(
                project_id=self.project_id, environment="dev", path=path, secret=secret
            )
        )

    def set_many(self, values: dict[str, str], path: str = PATH) -> None:
        """One BulkSetSecrets call (all or none)."""
        self.source.BulkSetSecrets(
            sapi.BulkSetSecretsRequest(
                project_id=self.project_id,
                environment="dev",
                path=path,
                secrets=[spb.Secret(key=k, value=v) for k, v in values.items()],
            )
        )

    def delete(self, key: str, path: str = PATH) -> None:
        self.source.DeleteSecret(
            sapi.DeleteSecretRequest(
                project_id=self.project_id, environment="dev", path=path, key=key
            )
        )

    def source_values(self) -> dict[str, str]:
        resolved = self.source.ResolveSecrets(
            sapi.ResolveSecretsRequest(project_id=self.project_id, **FOLDER)
        )
        return dict(resolved.secrets)

    # --- syncs -------------------------------------------------------------------

    def create(self, behavior: int = pb.INITIAL_SYNC_BEHAVIOR_OVERWRITE_DESTINATION,
               *, name: str = "my-key-vault-sync", secret_path: str = PATH,
               is_enabled: bool = True, **options: object) -> pb.SecretSync:
        """Create a sync to the emulator's vault; `options` are SyncOptions fields.

        With auto-sync on, the first sync is requested at once: this returns the
        sync once that job has finished. Off, nothing runs until a trigger."""
        request = create_request(
            project_id=self.project_id,
            connection_id=self.connection_id,
            name=name,
            secret_path=secret_path,
            is_enabled=is_enabled,
            destination_config=pb.AzureKeyVaultDestinationConfig(
                vault_base_url=self.emulator.url
            ),
            sync_options=pb.SyncOptions(initial_sync_behavior=behavior, **options),
        )
        sync = self.syncs.CreateSecretSync(request).secret_sync
        return self.wait(sync.id, "sync_status") if is_enabled else sync

    def get(self, sync_id: str, **as_of: object) -> pb.SecretSync:
        request = api.GetSecretSyncRequest(id=sync_id, **as_of)
        return self.syncs.GetSecretSync(request).secret_sync

    def wait(self, sync_id: str, status_field: str) -> pb.SecretSync:
        """The sync once its job of that kind has finished."""

        def finished() -> pb.SecretSync | None:
            shown = self.get(sync_id)
            return shown if getattr(shown, status_field) in DONE else None

        return eventually(finished)

    def trigger(self, sync_id: str) -> pb.SecretSync:
        """TriggerSecretSync, then the sync once a run that started after it has finished.

        The triggered job may not be the last one: an auto-sync request can come
        after it (e.g. for secrets set just before the sync was created) and take
        over `last_sync_job_id`. Trigger returns once the view shows the sync
        pending, and every request sets it pending again, so a finished status
        seen afterwards is that of a job started after the trigger."""
        self.syncs.TriggerSecretSync(api.TriggerSecretSyncRequest(id=sync_id))
        return self.wait(sync_id, "sync_status")

    # --- the vault ---------------------------------------------------------------

    def vault_put(self, name: str, value: str, **options: object) -> None:
        self.emulator.vault().set_secret(name, value, **options)
