"""A sync pushes only what its owner may read (docs/auth.md, "What a sync pushes"):
a principal allowed on /app only makes a sync of /app, which imports /secret and
references a key of it; the keys of /secret never reach the vault, and the job names
them as problem keys. An admin who then takes the sync over (updates it) owns it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import grpc
import pytest
from google.protobuf import field_mask_pb2
from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as agrpc

from service.app.call_context import CallContext
from tests.conftest import Bearer, create_request, start_server
from tests.emulator.conftest import emulator_connection, eventually, vault_value

DONE = (pb.JOB_STATUS_SUCCEEDED, pb.JOB_STATUS_FAILED)


@pytest.fixture
def secured(tmp_path, emulator, monkeypatch) -> Iterator[tuple]:
    monkeypatch.setenv("SECRET_SYNC_CA_BUNDLE", str(emulator.ca_path))
    server = start_server(f"sqlite:///{tmp_path}/store.sqlite", auth="required", run_jobs=True)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield server, channel
    finally:
        server.stop(grace=1.0)


def token_channel(server, channel, principal: str, grants: list[dict]) -> grpc.Channel:
    _, token = server.tokens.create(
        "t-" + uuid.uuid4().hex[:8], principal, grants, timedelta(hours=1),
        CallContext("bootstrap", "r-" + uuid.uuid4().hex),
    )
    return grpc.intercept_channel(channel, Bearer(token))


def finished(syncs, sync_id: str, after_version: int = 0) -> pb.SecretSync:
    def done() -> pb.SecretSync | None:
        sync = syncs.GetSecretSync(api.GetSecretSyncRequest(id=sync_id)).secret_sync
        return sync if sync.sync_status in DONE and sync.version > after_version else None

    return eventually(done)


def test_keys_the_owner_may_not_read_are_problem_keys_never_pushed(secured, emulator):
    server, channel = secured
    admin = token_channel(server, channel, "root", [{"project": "*", "actions": ["admin"]}])
    sources = sgrpc.SecretSourceServiceStub(admin)
    project = sources.CreateProject(
        sapi.CreateProjectRequest(name="P", slug="p-" + uuid.uuid4().hex[:8])
    ).project.id
    sources.CreateEnvironment(
        sapi.CreateEnvironmentRequest(project_id=project, slug="dev", name="dev")
    )
    for path in ("/app", "/secret"):
        sources.CreateFolder(
            sapi.CreateFolderRequest(project_id=project, environment="dev", path=path)
        )
    place = {"project_id": project, "environment": "dev"}
    sources.BulkSetSecrets(sapi.BulkSetSecretsRequest(**place, path="/secret", secrets=[
        spb.Secret(key="DB_PASSWORD", value="from-secret-folder"),
        spb.Secret(key="SIGNING_KEY", value="also-from-secret"),
    ]))
    sources.BulkSetSecrets(sapi.BulkSetSecretsRequest(**place, path="/app", secrets=[
        spb.Secret(key="APP_NAME", value="shop"),
        spb.Secret(key="DSN", value="postgres://app:${dev.secret.DB_PASSWORD}@db"),
    ]))
    sources.CreateSecretImport(sapi.CreateSecretImportRequest(
        **place, path="/app", secret_import=spb.SecretImport(environment="dev", path="/secret"),
    ))
    connection = emulator_connection(admin, project, emulator)

    app_only = token_channel(server, channel, "app-team", [{
        "project": project, "actions": ["read", "create", "edit", "sync-secrets"],
        "environments": ["dev"], "paths": ["/app"],
    }])
    syncs = agrpc.SecretSyncServiceStub(app_only)
    request = create_request(
        project_id=project, connection_id=connection, name="app-sync", secret_path="/app",
        destination_config=pb.AzureKeyVaultDestinationConfig(vault_base_url=emulator.url),
    )
    sync = finished(syncs, syncs.CreateSecretSync(request).secret_sync.id)

    assert vault_value(emulator, "APP-NAME") == "shop"
    for name in ("DB-PASSWORD", "SIGNING-KEY", "DSN"):
        assert vault_value(emulator, name) is None, name
    message = sync.last_sync_message
    for key in ("DB_PASSWORD", "SIGNING_KEY", "DSN"):
        assert key in message, message
    assert "may not read" in message and "dev:/secret" in message
    assert "from-secret" not in message
    assert sync.sync_status == pb.JOB_STATUS_FAILED

    # A trigger by the narrowed owner is checked the same way.
    syncs.TriggerSecretSync(api.TriggerSecretSyncRequest(id=sync.id))
    again = finished(syncs, sync.id, sync.version)
    assert vault_value(emulator, "DB-PASSWORD") is None
    assert "DB_PASSWORD" in again.last_sync_message

    # An admin who updates the sync becomes its owner, with an admin's reach.
    admin_syncs = agrpc.SecretSyncServiceStub(admin)
    updated = admin_syncs.UpdateSecretSync(api.UpdateSecretSyncRequest(
        id=sync.id, etag=again.etag, description="taken over by an admin",
        update_mask=field_mask_pb2.FieldMask(paths=["description"]),
    )).secret_sync
    admin_syncs.TriggerSecretSync(api.TriggerSecretSyncRequest(id=sync.id))
    last = finished(admin_syncs, sync.id, updated.version)
    assert last.sync_status == pb.JOB_STATUS_SUCCEEDED, last.last_sync_message
    assert vault_value(emulator, "DB-PASSWORD") == "from-secret-folder"
    assert vault_value(emulator, "DSN") == "postgres://app:from-secret-folder@db"
