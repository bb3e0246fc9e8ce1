"""Data the benchmarks need, made through the public API: a project with a folder, a sync."""

from __future__ import annotations

import itertools

import grpc
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from tests.conftest import create_request, new_project

_names = itertools.count()


def unique_name(prefix: str = "bench") -> str:
    return f"{prefix}-{next(_names)}"


def project_with_folder(channel: grpc.Channel) -> str:
    """A new project with environment "dev" and folder "/my-secrets"; its id."""
    return new_project(channel)


def create_sync(channel: grpc.Channel, project_id: str, is_enabled: bool = True) -> str:
    """A new sync in the project (the tests' example request); its id."""
    stub = api_grpc.SecretSyncServiceStub(channel)
    request = create_request(project_id=project_id, name=unique_name(), is_enabled=is_enabled)
    return stub.CreateSecretSync(request).secret_sync.id


def fetch_sync(channel: grpc.Channel, sync_id: str) -> api.GetSecretSyncResponse:
    stub = api_grpc.SecretSyncServiceStub(channel)
    response: api.GetSecretSyncResponse = stub.GetSecretSync(api.GetSecretSyncRequest(id=sync_id))
    return response
