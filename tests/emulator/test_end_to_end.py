"""The product end to end: a server with its worker, a connection to the emulator, a
sync; secrets set in the source arrive in the vault with no trigger call."""

from __future__ import annotations

import grpc
import pytest
from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from tests.conftest import create_request, new_project
from tests.emulator.conftest import emulator_connection, eventually, vault_value


def test_secrets_arrive_in_the_vault_without_a_trigger(running, emulator):
    channel = running
    project_id = new_project(channel)
    connection_id = emulator_connection(channel, project_id, emulator)
    source = sgrpc.SecretSourceServiceStub(channel)
    where = {"project_id": project_id, "environment": "dev", "path": "/my-secrets"}
    source.SetSecret(sapi.SetSecretRequest(**where, secret=spb.Secret(key="DB_HOST", value="a")))
    syncs = api_grpc.SecretSyncServiceStub(channel)
    sync = syncs.CreateSecretSync(
        create_request(
            project_id=project_id,
            connection_id=connection_id,
            destination_config=pb.AzureKeyVaultDestinationConfig(vault_base_url=emulator.url),
        )
    ).secret_sync
    eventually(lambda: vault_value(emulator, "DB-HOST") == "a")

    source.SetSecret(sapi.SetSecretRequest(**where, secret=spb.Secret(key="DB_HOST", value="b")))
    source.SetSecret(sapi.SetSecretRequest(**where, secret=spb.Secret(key="NEW", value="n")))
    eventually(lambda: vault_value(emulator, "DB-HOST") == "b" and vault_value(emulator, "NEW"))

    source.DeleteSecret(sapi.DeleteSecretRequest(**where, key="NEW"))
    eventually(lambda: vault_value(emulator, "NEW") is None)

    def succeeded() -> pb.SecretSync | None:
        shown = syncs.GetSecretSync(api.GetSecretSyncRequest(id=sync.id)).secret_sync
        return shown if shown.sync_status == pb.JOB_STATUS_SUCCEEDED else None

    shown = eventually(succeeded)
    assert shown.last_synced_at.seconds > 0 and "b" not in shown.last_sync_message.split()


def test_a_dry_run_shows_the_plan_and_changes_nothing(running, emulator):
    channel = running
    project_id = new_project(channel)
    connection_id = emulator_connection(channel, project_id, emulator)
    where = {"project_id": project_id, "environment": "dev", "path": "/my-secrets"}
    sgrpc.SecretSourceServiceStub(channel).SetSecret(
        sapi.SetSecretRequest(**where, secret=spb.Secret(key="DB_HOST", value="CANARY-DRY"))
    )
    syncs = api_grpc.SecretSyncServiceStub(channel)
    sync = syncs.CreateSecretSync(
        create_request(
            project_id=project_id,
            connection_id=connection_id,
            is_enabled=False,  # nothing requested: the worker stays idle
            destination_config=pb.AzureKeyVaultDestinationConfig(vault_base_url=emulator.url),
        )
    ).secret_sync
    emulator.reset_counts()
    answer = syncs.TriggerSecretSync(api.TriggerSecretSyncRequest(id=sync.id, validate_only=True))
    steps = {(s.action, s.name, s.key) for s in answer.plan}
    assert (api.PLAN_ACTION_CREATE, "DB-HOST", "DB_HOST") in steps
    assert answer.job_id == "" and not answer.blocking
    assert "CANARY-DRY" not in str(answer)
    counts = emulator.counts()
    assert counts.get("set", 0) == 0 and counts.get("delete", 0) == 0
    after = syncs.GetSecretSync(api.GetSecretSyncRequest(id=sync.id)).secret_sync
    assert after.version == sync.version  # nothing recorded


def test_a_dry_run_without_a_working_connection_is_refused_clearly(running, emulator):
    syncs = api_grpc.SecretSyncServiceStub(running)
    sync = syncs.CreateSecretSync(
        create_request(
            project_id=new_project(running),
            is_enabled=False,
            destination_config=pb.AzureKeyVaultDestinationConfig(vault_base_url=emulator.url),
        )
    ).secret_sync
    with pytest.raises(grpc.RpcError) as refused:
        syncs.TriggerSecretSync(api.TriggerSecretSyncRequest(id=sync.id, validate_only=True))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "AuthenticationFailed" in refused.value.details()
    assert "not-a-real-secret" not in refused.value.details()
