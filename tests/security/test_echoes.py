"""What a caller sent is never echoed whole: a 1 MiB etag, field-mask path or name comes
back as a short quote in a bounded message (status details travel in metadata, which
clients refuse past a few KiB). Also the new text rules seen from the API: a key schema
that can never make a vault name, and bidi or zero-width characters in shown text."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api

from service.api.errors import MAX_MESSAGE
from tests.conftest import create_request
from tests.integration.sync_helpers import fails

HUGE = "x" * (1024 * 1024)


@pytest.fixture
def sync(server, stub):
    return stub.CreateSecretSync(create_request(is_enabled=False)).secret_sync


def test_a_huge_etag_is_not_echoed(server, stub, sync):
    request = api.UpdateSecretSyncRequest(
        id=sync.id, etag=HUGE, description="d",
        update_mask=field_mask_pb2.FieldMask(paths=["description"]),
    )
    failure = fails(stub.UpdateSecretSync, request)
    assert failure.code == grpc.StatusCode.ABORTED
    assert len(failure.message) < 1024 and "1048576 characters" in failure.message


def test_a_huge_field_mask_path_is_not_echoed(server, stub, sync):
    request = api.UpdateSecretSyncRequest(
        id=sync.id, update_mask=field_mask_pb2.FieldMask(paths=[HUGE, "y" * 5000] * 3)
    )
    failure = fails(stub.UpdateSecretSync, request)
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.fields == ["update_mask"]
    assert len(failure.message) <= MAX_MESSAGE


def test_a_key_schema_that_can_never_make_a_vault_name_is_refused(server, stub):
    for schema in ("pre/{{secretKey}}", "x" * 200 + "{{secretKey}}"):
        request = create_request(
            name="schema-" + str(len(schema)),
            sync_options=pb.SyncOptions(
                initial_sync_behavior=pb.INITIAL_SYNC_BEHAVIOR_OVERWRITE_DESTINATION,
                key_schema=schema,
            ),
        )
        failure = fails(stub.CreateSecretSync, request)
        assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
        assert failure.fields == ["sync_options.key_schema"], failure.message


@pytest.mark.parametrize("text", ["abc\u202egnp.exe", "zero\u200bwidth", "bom\ufeff"])
def test_invisible_characters_are_refused_in_shown_text(server, stub, source_stub, text):
    failure = fails(stub.CreateSecretSync, create_request(name="shown", description=text))
    assert (failure.code, failure.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["description"])
    failure = fails(source_stub.CreateProject, sapi.CreateProjectRequest(name=text, slug="shown"))
    assert (failure.code, failure.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["name"])


def test_moving_a_sync_to_an_environment_its_schema_cannot_serve_is_refused(
    server, stub, source_stub, sync
):
    project = sync.project_id
    long_env = "e" * 60
    source_stub.CreateEnvironment(
        sapi.CreateEnvironmentRequest(project_id=project, slug=long_env, name="long")
    )
    source_stub.CreateFolder(
        sapi.CreateFolderRequest(project_id=project, environment=long_env, path="/my-secrets")
    )
    schema = "k" * 70 + "-{{environment}}-{{secretKey}}"  # 72 + 60 + 1 > 127 there
    shaped = stub.UpdateSecretSync(api.UpdateSecretSyncRequest(
        id=sync.id, sync_options=pb.SyncOptions(key_schema=schema),
        update_mask=field_mask_pb2.FieldMask(paths=["sync_options.key_schema"]),
    )).secret_sync
    failure = fails(stub.UpdateSecretSync, api.UpdateSecretSyncRequest(
        id=shaped.id, environment=long_env,
        update_mask=field_mask_pb2.FieldMask(paths=["environment"]),
    ))
    assert (failure.code, failure.fields) == (
        grpc.StatusCode.INVALID_ARGUMENT, ["sync_options.key_schema"]
    )
