"""Syncs and the secret source: a sync reads an existing folder, shows which, and
says so (and refuses jobs) while that folder is gone."""

from __future__ import annotations

import uuid

import grpc
from google.protobuf.field_mask_pb2 import FieldMask
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api

from tests.conftest import create_request, event_count
from tests.integration.test_source_api import (
    Source,
    auto_sync_idle,
    fails,
    poll,
    release_stopped_servers,  # noqa: F401
)


def get(stub, sync_id: str) -> pb.SecretSync:
    return stub.GetSecretSync(api.GetSecretSyncRequest(id=sync_id)).secret_sync


def test_create_needs_an_existing_environment_and_folder(server, stub, channel):
    project_id = create_request().project_id  # env "dev" with folder "/my-secrets"
    before = event_count(server)
    no_env = fails(stub.CreateSecretSync, create_request(environment="prod"))
    assert (no_env.code, no_env.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "ENVIRONMENT_NOT_FOUND",
    )
    assert "prod" in no_env.message
    no_folder = fails(stub.CreateSecretSync, create_request(secret_path="/nope/deeper/"))
    assert (no_folder.code, no_folder.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "FOLDER_NOT_FOUND",
    )
    assert "dev:/nope/deeper" in no_folder.message
    no_project = fails(stub.CreateSecretSync, create_request(project_id=str(uuid.uuid4())))
    assert (no_project.code, no_project.reason) == (
        grpc.StatusCode.NOT_FOUND,
        "PROJECT_NOT_FOUND",
    )
    assert event_count(server) == before
    listed = stub.ListSecretSyncs(api.ListSecretSyncsRequest(project_id=project_id))
    assert list(listed.secret_syncs) == []
    # The name was not taken by the refused creates.
    fails_by_name = fails(
        stub.GetSecretSync,
        api.GetSecretSyncRequest(project_id=project_id, name=create_request().name),
    )
    assert fails_by_name.code == grpc.StatusCode.NOT_FOUND

    source = Source(channel, project_id=project_id)
    source.mkdir("/nope", "/nope/deeper")
    created = stub.CreateSecretSync(create_request(secret_path="/nope/deeper/")).secret_sync
    assert created.folder.path == "/nope/deeper"
    assert created.sync_status == pb.JOB_STATUS_PENDING
    assert created.source_problem == ""


def test_a_sync_shows_its_environment_and_folder(server, stub, channel):
    source = Source(channel, folders=("/app", "/app/db"))
    prod = source.env("prod", "Production")
    (svc,) = source.mkdir("/svc", env="prod")
    (dev,) = [
        e
        for e in source.stub.ListEnvironments(
            sapi.ListEnvironmentsRequest(project_id=source.project_id)
        ).environments
        if e.slug == "dev"
    ]
    (db,) = source.stub.ListFolders(sapi.ListFoldersRequest(**source.place("/app"))).folders

    created = stub.CreateSecretSync(
        create_request(project_id=source.project_id, environment="prod", secret_path="/svc/")
    ).secret_sync
    assert created.environment == pb.EnvironmentSummary(slug="prod", name="Production", id=prod.id)
    assert created.folder == pb.FolderSummary(id=svc.id, path="/svc")
    assert created.source_problem == ""
    assert get(stub, created.id) == created

    moved = stub.UpdateSecretSync(
        api.UpdateSecretSyncRequest(
            id=created.id,
            update_mask=FieldMask(paths=["environment", "secret_path"]),
            environment="dev",
            secret_path="/app/db",
        )
    ).secret_sync
    assert moved.environment == pb.EnvironmentSummary(slug="dev", name="Dev", id=dev.id)
    assert moved.folder == pb.FolderSummary(id=db.id, path="/app/db")
    assert get(stub, created.id) == moved

    before = event_count(server)
    nowhere = fails(
        stub.UpdateSecretSync,
        api.UpdateSecretSyncRequest(
            id=created.id, update_mask=FieldMask(paths=["secret_path"]), secret_path="/app/gone"
        ),
    )
    assert (nowhere.code, nowhere.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "FOLDER_NOT_FOUND",
    )
    assert "/app/gone" in nowhere.message
    assert event_count(server) == before
    assert get(stub, created.id) == moved


def _jobs_refused(server, stub, sync_id: str, path: str) -> None:
    before = event_count(server)
    trigger = fails(stub.TriggerSecretSync, api.TriggerSecretSyncRequest(id=sync_id))
    imported = fails(
        stub.ImportSecrets,
        api.ImportSecretsRequest(id=sync_id, import_behavior=pb.IMPORT_BEHAVIOR_PRIORITIZE_SOURCE),
    )
    for refused in (trigger, imported):
        assert (refused.code, refused.reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "FOLDER_NOT_FOUND",
        )
        assert f"dev:{path}" in refused.message
    assert event_count(server) == before


def test_a_deleted_folder_is_reported_and_blocks_jobs_until_it_is_back(server, stub, channel):
    source = Source(channel, folders=("/app", "/app/db", "/other"))
    enabled = stub.CreateSecretSync(
        create_request(project_id=source.project_id, name="enabled", secret_path="/app/db")
    ).secret_sync
    disabled = stub.CreateSecretSync(
        create_request(
            project_id=source.project_id, name="disabled", secret_path="/app/db", is_enabled=False
        )
    ).secret_sync
    bystander = stub.CreateSecretSync(
        create_request(project_id=source.project_id, name="bystander", secret_path="/other")
    ).secret_sync

    assert source.rmdir("/app") == 2  # /app and /app/db
    for sync in (enabled, disabled):
        lost = poll(lambda sync=sync: get(stub, sync.id), lambda s: s.source_problem)
        assert "dev:/app/db" in lost.source_problem
        assert "deleted" in lost.source_problem
        assert lost.sync_status == sync.sync_status  # nothing was requested
        assert lost.last_sync_job_id == sync.last_sync_job_id
    auto_sync_idle(server)
    assert get(stub, bystander.id).source_problem == ""

    _jobs_refused(server, stub, enabled.id, "/app/db")
    _jobs_refused(server, stub, disabled.id, "/app/db")
    # Removing the vault's secrets needs no source: still allowed.
    removal = stub.RemoveSecrets(api.RemoveSecretsRequest(id=disabled.id))
    assert removal.secret_sync.remove_status == pb.JOB_STATUS_PENDING

    _, recreated = source.mkdir("/app", "/app/db")
    for sync in (enabled, disabled):
        triggered = stub.TriggerSecretSync(api.TriggerSecretSyncRequest(id=sync.id))
        assert triggered.job_id and triggered.job_id != sync.last_sync_job_id
        assert triggered.secret_sync.sync_status == pb.JOB_STATUS_PENDING
        assert triggered.secret_sync.last_sync_job_id == triggered.job_id
        assert triggered.secret_sync.source_problem == ""
        assert triggered.secret_sync.folder == pb.FolderSummary(id=recreated.id, path="/app/db")
        assert get(stub, sync.id).source_problem == ""
        imported = stub.ImportSecrets(
            api.ImportSecretsRequest(
                id=sync.id, import_behavior=pb.IMPORT_BEHAVIOR_PRIORITIZE_DESTINATION
            )
        )
        assert imported.secret_sync.import_status == pb.JOB_STATUS_PENDING


def test_source_problem_clears_when_the_folder_is_created_again(server, stub, channel):
    source = Source(channel, folders=("/app",))
    syncs = [
        stub.CreateSecretSync(
            create_request(
                project_id=source.project_id,
                name=name,
                secret_path="/app",
                is_enabled=enabled,
            )
        ).secret_sync
        for name, enabled in (("enabled", True), ("disabled", False))
    ]
    source.rmdir("/app")
    for sync in syncs:
        poll(lambda sync=sync: get(stub, sync.id).source_problem, bool)
    source.mkdir("/app")
    auto_sync_idle(server)
    for sync in syncs:
        poll(lambda sync=sync: get(stub, sync.id).source_problem, lambda p: p == "", timeout=1.0)
