"""request_id makes mutations idempotent: a retry gets the first answer and records nothing."""

from __future__ import annotations

import grpc
from hanzo.kms.secretsync.v1 import azure_connection_pb2 as cpb
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2 as capi
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2_grpc as cgrpc
from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api

from tests.conftest import create_request, event_count, new_id
from tests.integration.sync_helpers import CALL_TIMEOUT, fails
from tests.integration.test_concurrency import race


def test_a_retry_with_the_same_request_id_is_not_executed_twice(server, stub):
    request = create_request(name="retried", request_id="create-once")
    first = stub.CreateSecretSync(request, timeout=CALL_TIMEOUT).secret_sync
    trigger = api.TriggerSecretSyncRequest(id=first.id, request_id="trigger-once")
    job_id = stub.TriggerSecretSync(trigger, timeout=CALL_TIMEOUT).job_id
    before = event_count(server)

    assert stub.TriggerSecretSync(trigger, timeout=CALL_TIMEOUT).job_id == job_id
    retried = stub.CreateSecretSync(request, timeout=CALL_TIMEOUT).secret_sync

    assert retried == first  # the first answer, etag included
    assert event_count(server) == before


def test_the_same_request_id_sent_ten_times_at_once_has_one_effect(server, stub):
    sync = stub.CreateSecretSync(create_request(is_enabled=False)).secret_sync
    request = api.UpdateSecretSyncRequest(
        id=sync.id, etag=sync.etag, description="once", request_id="update-once"
    )
    request.update_mask.paths.append("description")
    before = event_count(server)

    answers = race([lambda: stub.UpdateSecretSync(request, timeout=CALL_TIMEOUT)] * 10)

    assert all(not hasattr(a, "reason") for a in answers), answers  # none saw a stale etag
    assert len({a.secret_sync.etag for a in answers}) == 1
    assert event_count(server) == before + 1


def test_a_request_id_reused_for_another_request_is_refused(server, stub):
    stub.CreateSecretSync(create_request(name="first", request_id="shared-id"))
    before = event_count(server)

    failure = fails(stub.CreateSecretSync, create_request(name="second", request_id="shared-id"))

    assert (failure.code, failure.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["request_id"])
    assert event_count(server) == before


def test_a_failed_call_is_not_remembered(server, stub, source_stub):
    sync = stub.CreateSecretSync(create_request()).secret_sync
    where = {"project_id": sync.project_id, "environment": "dev", "path": "/my-secrets"}
    source_stub.DeleteFolder(sapi.DeleteFolderRequest(**where))
    trigger = api.TriggerSecretSyncRequest(id=sync.id, request_id="after-the-folder-is-back")
    assert fails(stub.TriggerSecretSync, trigger).code == grpc.StatusCode.FAILED_PRECONDITION

    source_stub.CreateFolder(sapi.CreateFolderRequest(**where))

    assert stub.TriggerSecretSync(trigger, timeout=CALL_TIMEOUT).job_id  # runs this time


def test_a_request_id_reused_for_another_method_is_refused(server, stub):
    """The README's promise, whatever the method: a reused id with a different request
    is refused. Request ids are the caller's, not the method's."""
    sync = stub.CreateSecretSync(create_request(request_id="same-everywhere")).secret_sync
    trigger = api.TriggerSecretSyncRequest(id=sync.id, request_id="same-everywhere")
    before = event_count(server)

    failure = fails(stub.TriggerSecretSync, trigger)

    assert (failure.code, failure.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["request_id"])
    assert event_count(server) == before
    trigger.request_id = "a-new-one"
    assert stub.TriggerSecretSync(trigger, timeout=CALL_TIMEOUT).job_id


def test_source_and_connection_mutations_are_idempotent_too(server, source_stub, channel):
    project = sapi.CreateProjectRequest(name="Once", slug="once-only", request_id="project-once")
    first = source_stub.CreateProject(project, timeout=CALL_TIMEOUT).project
    assert source_stub.CreateProject(project, timeout=CALL_TIMEOUT).project == first

    where = {"project_id": create_request().project_id, "environment": "dev", "path": "/my-secrets"}
    secret = sapi.SetSecretRequest(**where, secret=spb.Secret(key="K", value="v"),
                                   request_id="set-once")
    version = source_stub.SetSecret(secret, timeout=CALL_TIMEOUT).secret.version
    assert source_stub.SetSecret(secret, timeout=CALL_TIMEOUT).secret.version == version

    connection = capi.CreateAzureConnectionRequest(
        project_id=where["project_id"], name="once", cloud=cpb.AZURE_CLOUD_PUBLIC,
        client_secret_auth=cpb.ClientSecretAuth(
            tenant_id=new_id(), client_id=new_id(), client_secret="not-a-real-secret"),
        request_id="connection-once",
    )
    connections = cgrpc.AzureConnectionServiceStub(channel)
    made = connections.CreateAzureConnection(connection, timeout=CALL_TIMEOUT).connection
    assert connections.CreateAzureConnection(connection, timeout=CALL_TIMEOUT).connection == made


def test_a_malformed_request_id_is_named(server, source_stub):
    bad = sapi.CreateProjectRequest(name="Bad", slug="bad-id", request_id="has spaces")
    failure = fails(source_stub.CreateProject, bad)
    assert (failure.code, failure.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["request_id"])
