"""What a client can read from an error without parsing its text: ErrorInfo.metadata
names the resource (type, id or name) and the request field, BadRequest lists every
rule each bad field breaks; and a sync names its connection. Over a real server, on
SQLite and on PostgreSQL."""

from __future__ import annotations

import grpc
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api

from tests.conftest import create_request, new_connection, new_id
from tests.integration.sync_helpers import fails, get
from tests.integration.test_source_api import release_stopped_servers  # noqa: F401


def test_a_missing_sync_names_its_type_id_and_field(stub):
    unknown = new_id()
    missing = fails(stub.GetSecretSync, api.GetSecretSyncRequest(id=unknown.upper()))
    assert (missing.code, missing.reason) == (grpc.StatusCode.NOT_FOUND, "SECRET_SYNC_NOT_FOUND")
    assert missing.metadata == {
        "resource_type": "secret_sync",
        "resource_id": unknown,
        "field": "id",
    }


def test_a_missing_folder_and_a_missing_project_name_themselves(stub, source_stub):
    sync = stub.CreateSecretSync(create_request()).secret_sync
    place = {"project_id": sync.project_id, "environment": "dev", "path": "/nowhere"}
    folder = fails(source_stub.ListSecrets, sapi.ListSecretsRequest(**place))
    assert folder.metadata == {
        "resource_type": "folder",
        "resource_id": "dev:/nowhere",
        "field": "path",
    }
    project = new_id()
    gone = fails(stub.GetSecretSync, api.GetSecretSyncRequest(project_id=project, name="x"))
    assert gone.metadata == {"resource_type": "secret_sync", "resource_id": "x", "field": "name"}
    envs = fails(source_stub.ListEnvironments, sapi.ListEnvironmentsRequest(project_id=project))
    assert envs.metadata == {
        "resource_type": "project",
        "resource_id": project,
        "field": "project_id",
    }


def test_a_taken_name_and_a_stale_etag_name_the_sync(stub):
    sync = stub.CreateSecretSync(create_request(name="taken")).secret_sync
    taken = fails(stub.CreateSecretSync, create_request(name="taken"))
    assert (taken.reason, taken.metadata) == (
        "NAME_TAKEN",
        {"resource_type": "secret_sync", "resource_id": "taken", "field": "name"},
    )
    stale = api.UpdateSecretSyncRequest(id=sync.id, etag="stale", description="x")
    stale.update_mask.paths.append("description")
    aborted = fails(stub.UpdateSecretSync, stale)
    assert (aborted.reason, aborted.metadata) == (
        "ETAG_MISMATCH",
        {"resource_type": "secret_sync", "resource_id": sync.id, "field": "etag"},
    )


def test_a_field_breaking_several_rules_is_told_each_and_metadata_lists_the_fields(stub):
    schema = "x" * 300 + "{{environment}}{{environment}}"
    invalid = fails(
        stub.CreateSecretSync,
        create_request(
            name="Not A Slug",
            sync_options=pb.SyncOptions(
                initial_sync_behavior=pb.INITIAL_SYNC_BEHAVIOR_OVERWRITE_DESTINATION,
                key_schema=schema,
            ),
        ),
    )
    assert invalid.fields == ["name", "sync_options.key_schema"]
    schema_rules = [d for f, d in invalid.violations if f == "sync_options.key_schema"]
    assert schema_rules == [
        "must be at most 255 characters",
        "must contain {{secretKey}} exactly once",
        "may contain {{environment}} at most once",
    ]
    assert invalid.metadata == {"field": "name,sync_options.key_schema"}


def test_a_sync_names_its_connection(channel, stub):
    created = stub.CreateSecretSync(create_request()).secret_sync
    assert created.connection.name.startswith("c-")  # new_project's connection
    other = new_connection(channel, created.project_id, name="billing-vault")
    second = stub.CreateSecretSync(create_request(name="second", connection_id=other)).secret_sync
    assert (second.connection.id, second.connection.name) == (other, "billing-vault")
    assert get(stub, second.id).connection.name == "billing-vault"
    listed = stub.ListSecretSyncs(api.ListSecretSyncsRequest(project_id=created.project_id))
    assert {s.connection.name for s in listed.secret_syncs} == {
        created.connection.name,
        "billing-vault",
    }
