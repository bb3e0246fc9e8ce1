"""Abuse: a server at its limits answers RESOURCE_EXHAUSTED at once, records nothing for
what it refused, and keeps serving; it never hangs a caller.

The limits: open streams (SECRET_SYNC_MAX_STREAMS), calls in flight
(SECRET_SYNC_MAX_CONCURRENT_RPCS) and message size (SECRET_SYNC_MAX_MESSAGE_BYTES).
Over-long strings are INVALID_ARGUMENT and page sizes are capped at 500
(tests/integration/test_invalid_requests.py, tests/fuzz/).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from hanzo.kms.secretsync.v1 import secret_source_pb2 as source_pb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as source_api
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as source_grpc
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from service.runtime.config import Config, ConfigError
from service.server import SecretSyncServer
from tests.conftest import create_request, event_count, new_project, start_server
from tests.integration.sync_helpers import CALL_TIMEOUT, decode, stream_fails

EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.fixture
def limited(database_url: str) -> Iterator[SecretSyncServer]:
    server = start_server(
        database_url, max_concurrent_rpcs=3, max_streams=2, max_message_bytes=64 * 1024
    )
    yield server
    server.stop(grace=1.0)


@pytest.fixture
def channel(limited: SecretSyncServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{limited.port}") as channel:
        yield channel


def watch(stub: api_grpc.SecretSyncServiceStub, sync_id: str) -> grpc.Future:
    """An open Watch stream, past its first message (so the server holds it)."""
    stream = stub.WatchSecretSync(api.WatchSecretSyncRequest(id=sync_id))
    next(stream)
    return stream


def test_a_stream_beyond_the_limit_is_refused_and_short_calls_go_on(channel: grpc.Channel):
    project_id = new_project(channel)
    stub = api_grpc.SecretSyncServiceStub(channel)
    sync = stub.CreateSecretSync(create_request(project_id=project_id)).secret_sync
    held = [watch(stub, sync.id), watch(stub, sync.id)]

    refused = stream_fails(stub.WatchSecretSync, api.WatchSecretSyncRequest(id=sync.id))
    assert (refused.code, refused.reason) == (EXHAUSTED, "TOO_MANY_STREAMS")
    assert "retry later" in refused.message
    # The streams took their share only: short calls are still served.
    got = stub.GetSecretSync(api.GetSecretSyncRequest(id=sync.id), timeout=CALL_TIMEOUT)
    assert got.secret_sync.id == sync.id

    held.pop().cancel()  # a closed stream frees its place
    deadline = time.monotonic() + CALL_TIMEOUT
    while True:
        try:
            held.append(watch(stub, sync.id))
            break
        except grpc.RpcError as error:
            assert decode(error).reason == "TOO_MANY_STREAMS"
            assert time.monotonic() < deadline, "the cancelled stream's place was never freed"
            time.sleep(0.05)
    for stream in held:
        stream.cancel()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_call_beyond_the_concurrency_limit_is_refused_at_once_not_queued(
    channel: grpc.Channel, limited: SecretSyncServer
):
    project_id = new_project(channel)
    stub = api_grpc.SecretSyncServiceStub(channel)
    sync = stub.CreateSecretSync(create_request(project_id=project_id)).secret_sync
    held = [watch(stub, sync.id), watch(stub, sync.id)]  # 2 of the 3 places
    get = api.GetSecretSyncRequest(id=sync.id)
    before = event_count(limited)
    # The third place: a create that waits for the store, which the test holds locked.
    # (On a thread of its own, not a grpc future: an interceptor may make a future wait.)
    store = sqlite3.connect(limited.config.database_url.removeprefix("sqlite:///"))
    store.execute("BEGIN EXCLUSIVE")
    with ThreadPoolExecutor(1) as caller:
        try:
            blocked = caller.submit(
                stub.CreateSecretSync,
                create_request(project_id=project_id, name="blocked"),
                timeout=CALL_TIMEOUT,
            )
            refused = _until_refused(lambda: stub.GetSecretSync(get, timeout=CALL_TIMEOUT))
            assert refused.code() == EXHAUSTED
            assert not blocked.done()  # it was admitted and waits; the Get was not queued
        finally:
            store.rollback()
            store.close()
        assert blocked.result().secret_sync.name == "blocked"
    assert stub.GetSecretSync(get, timeout=CALL_TIMEOUT).secret_sync.id == sync.id
    assert event_count(limited) > before  # the create, and nothing of the refused Gets
    for stream in held:
        stream.cancel()


def _until_refused(call: Callable[[], object]) -> grpc.RpcError:
    """Repeat a call until the server turns it away (the blocked call may take a moment
    to be admitted); fail if it never does."""
    deadline = time.monotonic() + CALL_TIMEOUT
    while time.monotonic() < deadline:
        try:
            call()
        except grpc.RpcError as error:
            return error
        time.sleep(0.02)
    raise AssertionError("the call was never refused: the blocked call was not admitted")


def test_a_burst_is_either_served_or_refused_and_refusals_record_nothing(
    channel: grpc.Channel, limited: SecretSyncServer
):
    project_id = new_project(channel)
    stub = api_grpc.SecretSyncServiceStub(channel)
    before = event_count(limited)
    stub.CreateSecretSync(create_request(project_id=project_id, name="probe"))
    per_create = event_count(limited) - before  # what one create records
    before += per_create
    # 40 creates at once against 3 places: none may wait for a place or fail otherwise.
    with ThreadPoolExecutor(40) as callers:
        codes = list(
            callers.map(
                lambda n: _code(
                    stub.CreateSecretSync,
                    create_request(project_id=project_id, name=f"s-{n}"),
                ),
                range(40),
            )
        )

    assert set(codes) <= {grpc.StatusCode.OK, EXHAUSTED}, codes
    created = codes.count(grpc.StatusCode.OK)
    listed = stub.ListSecretSyncs(
        api.ListSecretSyncsRequest(project_id=project_id, page_size=100)
    ).secret_syncs
    assert len(listed) == created + 1  # a refused call created nothing (+ the probe)
    assert event_count(limited) - before == per_create * created


def _code(call: Callable[..., object], request: object) -> grpc.StatusCode:
    try:
        call(request, timeout=CALL_TIMEOUT)
        return grpc.StatusCode.OK
    except grpc.RpcError as error:
        return error.code()


def test_a_message_over_the_size_limit_is_refused_and_records_nothing(
    channel: grpc.Channel, limited: SecretSyncServer
):
    project_id = new_project(channel)
    sources = source_grpc.SecretSourceServiceStub(channel)
    before = event_count(limited)
    request = source_api.SetSecretRequest(
        project_id=project_id,
        environment="dev",
        path="/my-secrets",
        secret=source_pb.Secret(key="BIG", value="x" * (100 * 1024)),
    )
    with pytest.raises(grpc.RpcError) as refused:
        sources.SetSecret(request, timeout=CALL_TIMEOUT)
    assert refused.value.code() == EXHAUSTED
    assert event_count(limited) == before
    request.secret.value = "x" * 1024  # the same call, small enough, is served
    sources.SetSecret(request, timeout=CALL_TIMEOUT)
    assert event_count(limited) > before


def test_streams_must_leave_room_for_short_calls():
    with pytest.raises(ConfigError, match="SECRET_SYNC_MAX_STREAMS"):
        Config(max_concurrent_rpcs=10, max_streams=10).check_limits()
    with pytest.raises(ConfigError, match="SECRET_SYNC_MAX_STREAMS"):
        Config(max_streams=0).check_limits()
    Config().check_limits()


def test_the_service_refuses_to_start_with_a_clear_line_not_a_traceback(tmp_path):
    env = {
        **os.environ,
        "SECRET_SYNC_MAX_STREAMS": "300",
        "SECRET_SYNC_DATABASE_URL": f"sqlite:///{tmp_path}/store.sqlite",
        "SECRET_SYNC_METRICS_LISTEN": "off",
    }
    done = subprocess.run(
        [sys.executable, "-m", "service", "serve", "--dev"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "cannot start: SECRET_SYNC_MAX_STREAMS must be" in done.stderr
    assert "Traceback" not in done.stderr
