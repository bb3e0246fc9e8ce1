"""A sync names a live connection of its own project, and a connection in use stays.

Checked when the sync is created or re-pointed (FAILED_PRECONDITION,
CONNECTION_NOT_FOUND, nothing recorded), and when the connection is deleted
(FAILED_PRECONDITION, CONNECTION_IN_USE, naming the syncs).
"""

from __future__ import annotations

import grpc
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2 as capi
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2_grpc as cgrpc
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api

from tests.conftest import create_request, event_count, new_connection, new_id, new_project
from tests.integration.sync_helpers import assert_error, fails, mask, update


def test_a_sync_cannot_name_a_connection_that_does_not_exist(server, stub):
    before = event_count(server)
    failure = fails(stub.CreateSecretSync, create_request(connection_id=new_id()))
    assert_error(failure, grpc.StatusCode.FAILED_PRECONDITION, "CONNECTION_NOT_FOUND")
    assert failure.message.startswith("connection_id: ")
    assert event_count(server) == before


def test_a_sync_cannot_name_another_projects_connection(server, stub, channel):
    elsewhere = new_connection(channel, new_project(channel))
    before = event_count(server)
    failure = fails(stub.CreateSecretSync, create_request(connection_id=elsewhere))
    assert_error(failure, grpc.StatusCode.FAILED_PRECONDITION, "CONNECTION_NOT_FOUND")
    assert event_count(server) == before


def test_re_pointing_a_sync_checks_the_new_connection(server, stub, channel):
    sync = stub.CreateSecretSync(create_request()).secret_sync
    before = event_count(server)
    request = api.UpdateSecretSyncRequest(
        id=sync.id, update_mask=mask("connection_id"), connection_id=new_id()
    )
    failure = fails(stub.UpdateSecretSync, request)
    assert_error(failure, grpc.StatusCode.FAILED_PRECONDITION, "CONNECTION_NOT_FOUND")
    assert event_count(server) == before

    other = new_connection(channel, sync.project_id)
    assert update(stub, sync.id, ["connection_id"], connection_id=other).connection_id == other


def test_a_connection_in_use_cannot_be_deleted(server, stub, channel):
    sync = stub.CreateSecretSync(create_request(name="uses-it")).secret_sync
    connections = cgrpc.AzureConnectionServiceStub(channel)
    delete = capi.DeleteAzureConnectionRequest(connection_id=sync.connection_id)
    before = event_count(server)

    failure = fails(connections.DeleteAzureConnection, delete)

    assert_error(failure, grpc.StatusCode.FAILED_PRECONDITION, "CONNECTION_IN_USE")
    assert "uses-it" in failure.message
    assert event_count(server) == before

    stub.DeleteSecretSync(api.DeleteSecretSyncRequest(id=sync.id))
    connections.DeleteAzureConnection(delete)  # no longer used
