"""Helpers shared by the SecretSyncService integration tests (test_lifecycle, test_errors,
test_invalid_requests, test_list, test_watch, test_concurrency, test_server, test_process).

Every failure is decoded from the wire: `grpc_status.rpc_status.from_call` reads the
"grpc-status-details-bin" trailer (and checks that its code and message match the
call's), then the google.rpc.BadRequest and ErrorInfo details are unpacked.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api

from service.server import SecretSyncServer

ERROR_DOMAIN = "secretsync.kms.hanzo.ai"
SERVICE = "hanzo.kms.secretsync.v1.SecretSyncService"
CALL_TIMEOUT = 10.0  # seconds; no single call may hang the suite


@dataclass
class Failure:
    """A failed call as a client sees it, with its rich details unpacked."""

    code: grpc.StatusCode
    message: str
    reason: str = ""
    domain: str = ""
    fields: list[str] = field(default_factory=list)  # each bad field once
    descriptions: dict[str, str] = field(default_factory=dict)  # its rules, "; "-joined
    violations: list[tuple[str, str]] = field(default_factory=list)  # as sent
    metadata: dict[str, str] = field(default_factory=dict)  # ErrorInfo.metadata
    detail_types: list[str] = field(default_factory=list)


def decode(error: grpc.RpcError) -> Failure:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, f"no rich status on {error.code()}: {error.details()}"
    failure = Failure(code=error.code(), message=error.details() or "")
    assert status.message == failure.message
    for detail in status.details:
        failure.detail_types.append(detail.type_url.rsplit("/", 1)[-1])
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            failure.reason, failure.domain = info.reason, info.domain
            failure.metadata = dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            for violation in bad.field_violations:
                failure.violations.append((violation.field, violation.description))
                if violation.field in failure.descriptions:  # a field breaking several rules
                    failure.descriptions[violation.field] += "; " + violation.description
                else:
                    failure.fields.append(violation.field)
                    failure.descriptions[violation.field] = violation.description
    return failure


def fails(call: Callable[..., Any], request: Any, **kwargs: Any) -> Failure:
    """Make the call; it must fail. Returns the decoded failure."""
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=CALL_TIMEOUT, **kwargs)
    return decode(info.value)


def stream_fails(call: Callable[..., Any], request: Any) -> Failure:
    """A server-streaming call that must fail before its first message."""
    stream = call(request, timeout=CALL_TIMEOUT)
    with pytest.raises(grpc.RpcError) as info:
        next(stream)
    return decode(info.value)


def assert_invalid(failure: Failure, *fields: str) -> None:
    """INVALID_ARGUMENT naming exactly these fields, with the documented details."""
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT, failure
    assert sorted(failure.fields) == sorted(fields), failure
    assert (failure.reason, failure.domain) == ("INVALID_ARGUMENT", ERROR_DOMAIN), failure
    assert all(failure.descriptions[f] for f in fields), failure
    assert sorted(failure.detail_types) == ["google.rpc.BadRequest", "google.rpc.ErrorInfo"]


def assert_error(failure: Failure, code: grpc.StatusCode, reason: str) -> None:
    assert (failure.code, failure.reason, failure.domain) == (code, reason, ERROR_DOMAIN), failure
    assert failure.fields == [], failure
    assert failure.message, failure


def poll(read: Callable[[], Any], until: Callable[[Any], bool], timeout: float = 5.0) -> Any:
    """Read until `until(value)` holds; fail after `timeout` seconds showing the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not so after {timeout}s: {value!r}")
        time.sleep(0.02)


def mask(*paths: str) -> FieldMask:
    return FieldMask(paths=list(paths))


def get(stub: Any, sync_id: str) -> pb.SecretSync:
    return stub.GetSecretSync(
        api.GetSecretSyncRequest(id=sync_id), timeout=CALL_TIMEOUT
    ).secret_sync


def get_by_name(stub: Any, project_id: str, name: str) -> pb.SecretSync:
    request = api.GetSecretSyncRequest(project_id=project_id, name=name)
    return stub.GetSecretSync(request, timeout=CALL_TIMEOUT).secret_sync


def update(
    stub: Any, sync_id: str, paths: list[str], etag: str = "", **fields: Any
) -> pb.SecretSync:
    request = api.UpdateSecretSyncRequest(id=sync_id, etag=etag, update_mask=mask(*paths), **fields)
    return stub.UpdateSecretSync(request, timeout=CALL_TIMEOUT).secret_sync


def list_all(stub: Any, page_size: int = 0, **filters: Any) -> list[pb.SecretSync]:
    """Every sync a listing returns, following next_page_token to the end."""
    found: list[pb.SecretSync] = []
    token = ""
    for _ in range(1000):
        page = stub.ListSecretSyncs(
            api.ListSecretSyncsRequest(page_size=page_size, page_token=token, **filters),
            timeout=CALL_TIMEOUT,
        )
        found += page.secret_syncs
        token = page.next_page_token
        if not token:
            return found
    raise AssertionError("the listing never ended")


def events_of(server: SecretSyncServer, sync_id: str) -> list[Any]:
    """The sync's domain events, from the event store itself (not the view)."""
    return list(server.app.events.get(UUID(sync_id)))


def event_types(server: SecretSyncServer, sync_id: str) -> list[str]:
    """The names of the sync's lifecycle events. SourceLocated (bookkeeping of which
    folder the sync reads, which may or may not be its own event) is left out."""
    return [type(e).__name__ for e in events_of(server, sync_id)
            if type(e).__name__ != "SourceLocated"]  # fmt: skip


class Watch:
    """A WatchSecretSync stream read on a thread, so that no read can hang a test.

    `next()` returns the next message, the grpc.RpcError the stream ended with, or
    `Watch.END` when it ended normally; it fails if nothing comes within `timeout`.
    """

    END = "end of stream"

    def __init__(self, stub: Any, sync_id: str, deadline: float = 60.0, api_module: Any = api):
        request = api_module.WatchSecretSyncRequest(id=sync_id)
        self.call = stub.WatchSecretSync(request, timeout=deadline)
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True, name="watch-reader")
        self._thread.start()

    def _read(self) -> None:
        try:
            for message in self.call:
                self._queue.put(message)
            self._queue.put(self.END)
        except grpc.RpcError as error:
            self._queue.put(error)

    def next(self, timeout: float = 5.0) -> Any:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no watch message within {timeout}s") from None

    def message(self, timeout: float = 5.0) -> Any:
        item = self.next(timeout)
        assert not isinstance(item, (str, grpc.RpcError)), f"expected a message, got {item!r}"
        return item

    def ended(self, timeout: float = 5.0) -> None:
        item = self.next(timeout)
        assert item == self.END, f"expected the end of the stream, got {item!r}"
        self._thread.join(timeout)

    def cancel(self) -> None:
        self.call.cancel()
        self._thread.join(5.0)
