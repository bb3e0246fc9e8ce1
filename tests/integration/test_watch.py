"""WatchSecretSync: the current state first, then one message per change, a last
message with deleted=true when the sync is deleted; the stream also ends when the
client cancels it or the server shuts down. Streams are read on threads with
deadlines (sync_helpers.Watch), so a bug cannot hang the suite.
"""

from __future__ import annotations

import logging
import time

import grpc
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api

from tests.conftest import create_request
from tests.integration.sync_helpers import CALL_TIMEOUT, Watch, get, poll, update

WATCH_METHOD = "/hanzo.kms.secretsync.v1.SecretSyncService/WatchSecretSync"


def test_watch_sends_the_state_then_each_change_then_the_deletion(server, stub):
    created = stub.CreateSecretSync(create_request()).secret_sync
    current = update(stub, created.id, ["description"], description="before the watch")
    watch = Watch(stub, created.id)

    first = watch.message()
    assert first.deleted is False
    assert first.secret_sync == get(stub, created.id) == current  # the state now, not history

    updated = update(stub, created.id, ["description"], etag=current.etag, description="later")
    after_update = watch.message()
    assert after_update.deleted is False
    assert after_update.secret_sync == updated
    assert after_update.secret_sync.version > first.secret_sync.version

    triggered = stub.TriggerSecretSync(api.TriggerSecretSyncRequest(id=created.id))
    after_trigger = watch.message()
    assert after_trigger.secret_sync == triggered.secret_sync
    assert after_trigger.secret_sync.last_sync_job_id == triggered.job_id
    assert after_trigger.secret_sync.version > after_update.secret_sync.version

    imported = stub.ImportSecrets(
        api.ImportSecretsRequest(
            id=created.id, import_behavior=pb.IMPORT_BEHAVIOR_PRIORITIZE_SOURCE
        )
    )
    after_import = watch.message()
    assert after_import.secret_sync == imported.secret_sync
    assert after_import.secret_sync.import_status == pb.JOB_STATUS_PENDING

    deleted = stub.DeleteSecretSync(api.DeleteSecretSyncRequest(id=created.id))
    assert deleted.deleted
    last = watch.message()
    assert last.deleted is True
    assert last.secret_sync.id == created.id
    assert last.secret_sync.version >= after_import.secret_sync.version
    watch.ended()
    assert watch.call.code() == grpc.StatusCode.OK


def test_a_pending_removal_is_a_change_not_a_deletion(server, stub):
    created = stub.CreateSecretSync(create_request()).secret_sync
    watch = Watch(stub, created.id)
    assert watch.message().secret_sync == created
    answer = stub.DeleteSecretSync(api.DeleteSecretSyncRequest(id=created.id, remove_secrets=True))
    assert answer.deleted is False
    pending = watch.message()
    assert pending.deleted is False
    assert pending.secret_sync == answer.secret_sync
    assert pending.secret_sync.remove_status == pb.JOB_STATUS_PENDING
    stub.DeleteSecretSync(api.DeleteSecretSyncRequest(id=created.id))
    assert watch.message().deleted is True
    watch.ended()


def test_each_watcher_sees_its_own_sync_only(server, stub):
    one = stub.CreateSecretSync(create_request(name="one")).secret_sync
    two = stub.CreateSecretSync(create_request(name="two")).secret_sync
    watch_one, also_one, watch_two = Watch(stub, one.id), Watch(stub, one.id), Watch(stub, two.id)
    assert watch_one.message().secret_sync == one
    assert also_one.message().secret_sync == one
    assert watch_two.message().secret_sync == two

    changed_one = update(stub, one.id, ["description"], description="one changed")
    changed_two = update(stub, two.id, ["description"], description="two changed")
    assert watch_one.message().secret_sync == changed_one
    assert also_one.message().secret_sync == changed_one
    # Two's next message is two's own change: one's change sent it nothing.
    assert watch_two.message().secret_sync == changed_two
    for watch in (watch_one, also_one, watch_two):
        watch.cancel()


def test_cancelling_the_call_ends_the_stream_on_both_sides(server, stub, caplog):
    caplog.set_level(logging.INFO, logger="secretsync.calls")
    created = stub.CreateSecretSync(create_request()).secret_sync
    watch = Watch(stub, created.id)
    assert watch.message().secret_sync == created

    watch.cancel()
    ended = watch.next()
    assert isinstance(ended, grpc.RpcError) and ended.code() == grpc.StatusCode.CANCELLED

    # The server notices and ends its side: the call's log line is written when the
    # handler returns (each open stream holds a handler thread).
    def watch_lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if WATCH_METHOD in r.getMessage()]

    (line,) = poll(watch_lines, bool, timeout=5.0)
    assert "duration_ms=" in line
    # The sync and the server are unaffected.
    assert get(stub, created.id) == created
    again = Watch(stub, created.id)
    assert again.message().secret_sync == created
    again.cancel()


def test_a_cancelled_watch_is_logged_as_cancelled(server, stub, caplog):
    caplog.set_level(logging.INFO, logger="secretsync.calls")
    created = stub.CreateSecretSync(create_request()).secret_sync
    watch = Watch(stub, created.id)
    assert watch.message().secret_sync == created
    watch.cancel()

    def watch_lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if WATCH_METHOD in r.getMessage()]

    (line,) = poll(watch_lines, bool, timeout=5.0)
    assert "code=CANCELLED" in line, line


def test_a_deadline_ends_an_idle_watch(server, stub):
    created = stub.CreateSecretSync(create_request()).secret_sync
    watch = Watch(stub, created.id, deadline=1.0)
    assert watch.message().secret_sync == created
    ended = watch.next(timeout=5.0)
    assert isinstance(ended, grpc.RpcError)
    assert ended.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_server_shutdown_ends_open_watches(server, stub):
    created = stub.CreateSecretSync(create_request()).secret_sync
    watches = [Watch(stub, created.id) for _ in range(3)]
    for watch in watches:
        assert watch.message().secret_sync == created
    started = time.monotonic()
    server.stop(grace=5.0)
    for watch in watches:
        watch.ended(timeout=5.0)  # a normal end, not an error
    assert time.monotonic() - started < 5.0
    try:
        stub.GetSecretSync(api.GetSecretSyncRequest(id=created.id), timeout=CALL_TIMEOUT)
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.UNAVAILABLE
    else:
        raise AssertionError("a stopped server answered")
