"""What the audit tests share: a day of activity on one project, and readers."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import grpc
from google.protobuf.field_mask_pb2 import FieldMask
from hanzo.kms.secretsync.v1 import audit_pb2 as pb
from hanzo.kms.secretsync.v1 import audit_service_pb2 as api
from hanzo.kms.secretsync.v1 import azure_connection_pb2 as connection_pb
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2 as connection_api
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2_grpc as connection_grpc
from hanzo.kms.secretsync.v1 import secret_source_pb2 as source_pb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as source_api
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as source_grpc
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as sync_api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as sync_grpc
from hanzo.kms.secretsync.v1.audit_service_pb2_grpc import AuditServiceStub

from domain.options import JobKind
from service.server import SecretSyncServer
from tests.conftest import create_request, new_id
from tests.integration.sync_helpers import CALL_TIMEOUT, poll

SECRET_VALUE = "MARKED-VALUE-d41c9e"  # must never appear in an audit record
CLIENT_SECRET = "MARKED-CLIENT-SECRET-5b2a07"


@dataclass(frozen=True)
class Activity:
    """What `act` did, and the ids it did it under."""

    project_id: str
    sync_id: str
    connection_id: str
    folder_id: str
    job_id: str
    request_ids: dict[str, str]  # what was done -> the request id it was done under


def tag(what: str) -> str:
    return f"{what}-{uuid.uuid4().hex[:8]}"


def act(server: SecretSyncServer, channel: grpc.Channel) -> Activity:
    """Set and delete secrets, create a connection, create / update / trigger a sync,
    run its job, delete the sync; each with its own request id, given
    as the request's request_id field or as x-request-id metadata."""
    ids = {
        what: tag(what)
        for what in ("set", "connection", "create", "update", "trigger", "unset", "delete")
    }
    project_id = create_request().project_id
    sources = source_grpc.SecretSourceServiceStub(channel)
    where = {"project_id": project_id, "environment": "dev", "path": "/my-secrets"}
    sources.BulkSetSecrets(
        source_api.BulkSetSecretsRequest(
            **where,
            secrets=[
                source_pb.Secret(key="DB_PASSWORD", value=SECRET_VALUE),
                source_pb.Secret(key="API_KEY", value=SECRET_VALUE + "-2"),
            ],
            request_id=ids["set"],
        )
    )
    # Before the sync exists, so that auto-sync has no sync to request jobs on.
    sources.DeleteSecret(
        source_api.DeleteSecretRequest(**where, key="API_KEY", request_id=ids["unset"])
    )
    connection_id = (
        connection_grpc.AzureConnectionServiceStub(channel)
        .CreateAzureConnection(
            connection_api.CreateAzureConnectionRequest(
                project_id=project_id,
                name="audited",
                cloud=connection_pb.AZURE_CLOUD_PUBLIC,
                client_secret_auth=connection_pb.ClientSecretAuth(
                    tenant_id=new_id(), client_id=new_id(), client_secret=CLIENT_SECRET
                ),
            ),
            metadata=[("x-request-id", ids["connection"])],
        )
        .connection.id
    )
    syncs = sync_grpc.SecretSyncServiceStub(channel)
    sync = syncs.CreateSecretSync(
        create_request(connection_id=connection_id),
        metadata=[("x-request-id", ids["create"])],
    ).secret_sync
    syncs.UpdateSecretSync(
        sync_api.UpdateSecretSyncRequest(
            id=sync.id,
            description="audited",
            update_mask=FieldMask(paths=["description"]),
            request_id=ids["update"],
        )
    )
    job_id = syncs.TriggerSecretSync(
        sync_api.TriggerSecretSyncRequest(id=sync.id, request_id=ids["trigger"])
    ).job_id
    run_job(server, sync.id, job_id)
    syncs.DeleteSecretSync(sync_api.DeleteSecretSyncRequest(id=sync.id, request_id=ids["delete"]))
    folder_id = str(server.sources.folder(project_id, "dev", "/my-secrets").id)
    return Activity(project_id, sync.id, connection_id, folder_id, job_id, ids)


def run_job(server: SecretSyncServer, sync_id: str, job_id: str) -> None:
    """What the worker records for a job, without a vault (tests run no worker)."""
    sync = server.app.repository.get(UUID(sync_id))
    now = datetime.now(UTC)
    sync.start_job(JobKind.SYNC, job_id, "test-worker", now, timedelta(minutes=5))
    sync.succeed_job(JobKind.SYNC, job_id, "2 created", {"created": 2, "unchanged": 0})
    server.app.save(sync)


def audit_stub(channel: grpc.Channel) -> AuditServiceStub:
    return AuditServiceStub(channel)


def list_all(stub: AuditServiceStub, page_size: int = 0, **filters: Any) -> list[pb.AuditEvent]:
    """Every page of a list, concatenated."""
    events: list[pb.AuditEvent] = []
    token = ""
    while True:
        page = stub.ListAuditEvents(
            api.ListAuditEventsRequest(page_size=page_size, page_token=token, **filters),
            timeout=CALL_TIMEOUT,
        )
        events += page.events
        token = page.next_page_token
        if not token:
            return events


def settled(
    stub: AuditServiceStub, project_id: str, *event_types: str, count: int = 1
) -> list[pb.AuditEvent]:
    """The project's whole audit, oldest first, once it holds `count` events of each of
    `event_types` (a type named twice: twice as many). The audit follows the event store
    asynchronously, one follower per application, so a change of one application may
    show before an earlier one of another."""
    needed = Counter(event_types)
    return poll(
        lambda: list_all(stub, project_id=project_id, order=pb.AUDIT_ORDER_OLDEST_FIRST),
        lambda events: all(
            sum(e.event_type == wanted for e in events) >= times * count
            for wanted, times in needed.items()
        ),
        timeout=10,
    )


# The last event of each application in act(). Two connections: the test project's own
# (tests/conftest.py) and act()'s, which may show in either order.
ACTED = ("secret_sync.deleted", "secret.deleted", "connection.created", "connection.created")


class Stream:
    """A StreamAuditEvents call read on a thread, so that no read can hang a test."""

    END = "end of stream"

    def __init__(self, stub: AuditServiceStub, after: int = 0, project_id: str = "") -> None:
        request = api.StreamAuditEventsRequest(after_position=after, project_id=project_id)
        self.call = stub.StreamAuditEvents(request, timeout=60)
        self._queue: queue.Queue[Any] = queue.Queue()
        self.finished = False
        self._thread = threading.Thread(target=self._read, daemon=True, name="audit-reader")
        self._thread.start()

    def _read(self) -> None:
        try:
            for message in self.call:
                self._queue.put(message.event)
            self._queue.put(self.END)
        except grpc.RpcError as error:
            self._queue.put(error)

    def take(self, count: int, timeout: float = 10.0) -> list[pb.AuditEvent]:
        """The next `count` events; fails if they do not all come within `timeout`."""
        events: list[pb.AuditEvent] = []
        deadline = time.monotonic() + timeout
        while len(events) < count:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"{len(events)} of {count} events came in time") from None
            assert isinstance(item, pb.AuditEvent), f"expected an event, got {item!r}"
            events.append(item)
        return events

    def take_some(self, most: int, wait: float = 1.0) -> list[pb.AuditEvent]:
        """Up to `most` events, as many as come without a pause of `wait` seconds."""
        events: list[pb.AuditEvent] = []
        while len(events) < most:
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                break
            assert isinstance(item, pb.AuditEvent), f"expected an event, got {item!r}"
            events.append(item)
        return events

    def idle(self, seconds: float = 0.7) -> bool:
        """True when nothing more came within `seconds`."""
        time.sleep(seconds)
        return self._queue.empty()

    def next(self, timeout: float = 5.0) -> Any:
        """The next event, the error the stream ended with, or END."""
        item = self._queue.get(timeout=timeout)
        self.finished = not isinstance(item, pb.AuditEvent)
        return item

    def cancel(self) -> None:
        self.call.cancel()
        self._thread.join(timeout=5)
