"""Streams keep to the caller's rights: a revoked token's streams end, a stream about a
sync the caller can no longer read ends, and no stream outlives the server's maximum
stream lifetime (docs/auth.md, "Streams").

Streams are read on threads (sync_helpers.Watch, audit helpers.Stream), so a stream
that does not end fails the test instead of hanging it.
"""

from __future__ import annotations

import queue
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from hanzo.kms.secretsync.v1 import audit_service_pb2_grpc as audit_grpc
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc
from hanzo.kms.secretsync.v1 import token_service_pb2 as token_api
from hanzo.kms.secretsync.v1 import token_service_pb2_grpc as token_grpc

from service.app.call_context import CallContext
from tests.audit.helpers import Stream
from tests.conftest import Bearer, start_server
from tests.integration.sync_helpers import Watch
from tests.security.conftest import build_project, reason_of

# The stream ends on its own; this is only how long the test waits before failing.
ENDS_WITHIN = 10.0


class World:
    def __init__(self, server: Any) -> None:
        self.server = server
        self.ids: dict[str, str] = {}
        self.admin_token = self.token([{"project": "*", "actions": ["admin"]}], "root")
        self.admin = [("authorization", f"Bearer {self.admin_token}")]
        self.raw = grpc.insecure_channel(f"127.0.0.1:{server.port}")
        self.project = build_project(self.raw, self.admin)

    def token(self, grants: list[dict[str, Any]], principal: str = "") -> str:
        name = "t-" + uuid.uuid4().hex[:10]
        record, token = self.server.tokens.create(
            name, principal or name, grants, timedelta(hours=1),
            CallContext("bootstrap", "r-" + name),
        )
        self.ids[token] = str(record.id)
        return token

    def channel(self, token: str) -> grpc.Channel:
        return grpc.intercept_channel(self.raw, Bearer(token))

    def revoke(self, token: str) -> None:
        stub = token_grpc.TokenServiceStub(self.raw)
        stub.RevokeServiceToken(
            token_api.RevokeServiceTokenRequest(id=self.ids[token]),
            metadata=self.admin,
        )


def ended_with(reader: Any) -> grpc.RpcError:
    """The error a stream read on a thread ended with (skipping the messages before it)."""
    while True:
        try:
            item = reader._queue.get(timeout=ENDS_WITHIN)
        except queue.Empty:
            raise AssertionError(f"the stream did not end within {ENDS_WITHIN}s") from None
        if isinstance(item, grpc.RpcError):
            return item
        assert item != reader.END, "the stream ended without an error code"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("streams")
    server = start_server(f"sqlite:///{tmp}/store.sqlite", auth="required")
    try:
        yield World(server)
    finally:
        server.stop(grace=1.0)


def test_revoking_a_token_ends_its_watch_and_its_audit_stream(world):
    token = world.token([{"project": world.project.id, "actions": ["read", "read-audit"]}])
    channel = world.channel(token)
    watch = Watch(api_grpc.SecretSyncServiceStub(channel), world.project.syncs["dev:/app"])
    audit = Stream(audit_grpc.AuditServiceStub(channel), project_id=world.project.id)
    assert watch.message().secret_sync.id == world.project.syncs["dev:/app"]
    assert audit.take(1)  # the stream is open and serving

    world.revoke(token)

    for reader in (watch, audit):
        error = ended_with(reader)
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert reason_of(error) == "TOKEN_REVOKED"


def test_moving_a_sync_out_of_a_narrowed_token_reach_ends_its_watch(world):
    syncs = api_grpc.SecretSyncServiceStub(world.raw)
    made = syncs.CreateSecretSync(
        _sync_request(world, "dev", "/app"), metadata=world.admin
    ).secret_sync
    token = world.token([{
        "project": world.project.id, "actions": ["read"],
        "environments": ["dev"], "paths": ["/app/**"],
    }])
    watch = Watch(api_grpc.SecretSyncServiceStub(world.channel(token)), made.id)
    assert watch.message().secret_sync.environment.slug == "dev"

    syncs.UpdateSecretSync(
        api.UpdateSecretSyncRequest(
            id=made.id, etag=made.etag, environment="prod",
            update_mask=field_mask_pb2.FieldMask(paths=["environment"]),
        ),
        metadata=world.admin,
    )

    error = ended_with(watch)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "prod" not in (error.details() or "")  # nothing of the new place is told


def test_an_audit_stream_ends_when_the_token_loses_the_project(world):
    """A JWT or token cannot change, but a revocation is the same thing; and an expired
    credential is refused on the stream's next look, like a revoked one."""
    token = world.token([{"project": world.project.id, "actions": ["read-audit"]}])
    audit = Stream(audit_grpc.AuditServiceStub(world.channel(token)))
    assert audit.take(1)
    world.revoke(token)
    assert ended_with(audit).code() == grpc.StatusCode.UNAUTHENTICATED


def test_streams_end_at_the_maximum_lifetime_asking_the_client_to_reconnect(tmp_path):
    server = start_server(f"sqlite:///{tmp_path}/store.sqlite", max_stream_seconds=1.0)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            project = build_project(channel, [])
            watch = Watch(api_grpc.SecretSyncServiceStub(channel), project.syncs["dev:/app"])
            audit = Stream(audit_grpc.AuditServiceStub(channel))
            assert watch.message()
            assert audit.take(1)
            for reader in (watch, audit):
                error = ended_with(reader)
                assert error.code() == grpc.StatusCode.UNAVAILABLE
                assert reason_of(error) == "STREAM_LIFETIME_REACHED"
                assert "reconnect" in (error.details() or "")
    finally:
        server.stop(grace=1.0)


def _sync_request(world: World, env: str, path: str) -> api.CreateSecretSyncRequest:
    from tests.security.conftest import sync_request

    return sync_request(
        world.project.id, world.project.connection_id, env, path,
        name="moved-" + uuid.uuid4().hex[:8],
    )
