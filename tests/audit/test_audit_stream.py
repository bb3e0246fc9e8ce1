"""StreamAuditEvents over gRPC on both stores: catch up, then follow; a client that
reconnects with the last position it saw misses nothing and gets nothing twice,
also while writers of all three applications race."""

from __future__ import annotations

import threading

import grpc
from hanzo.kms.secretsync.v1 import audit_pb2 as pb
from hanzo.kms.secretsync.v1 import audit_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_source_pb2 as source_pb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as source_api
from hanzo.kms.secretsync.v1.secret_source_service_pb2_grpc import SecretSourceServiceStub

from tests.audit.helpers import ACTED, Stream, act, audit_stub, list_all, settled
from tests.conftest import create_request, new_connection, new_project
from tests.integration.sync_helpers import assert_invalid, poll, stream_fails

OLDEST = pb.AUDIT_ORDER_OLDEST_FIRST


def test_a_stream_catches_up_then_follows_live(server, channel, stub):
    audit = audit_stub(channel)
    project_id = create_request().project_id
    # All five of new_project's events: project, environment, two folders (the secret
    # source's follower) and the connection (another follower, which may be ahead).
    history = settled(audit, project_id, "connection.created", "folder.created", count=1)
    history = poll(
        lambda: list_all(audit, project_id=project_id, order=OLDEST),
        lambda events: len(events) >= 5,
        timeout=10,
    )
    other = new_project(channel)  # another project's events are not sent
    stream = Stream(audit, 0, project_id)
    assert stream.take(len(history)) == history
    assert stream.idle()

    sync = stub.CreateSecretSync(create_request()).secret_sync
    live = stream.take(2)
    assert [(e.event_type, e.resource_id) for e in live] == [
        ("secret_sync.created", sync.id),
        ("secret_sync.sync_requested", sync.id),
    ]
    assert live == list_all(audit, project_id=project_id, order=OLDEST)[len(history) :]
    assert stream.idle()
    stream.cancel()
    assert all(e.project_id == other for e in list_all(audit, project_id=other))


def test_a_stream_starts_after_the_position_given(server, channel):
    done = act(server, channel)
    audit = audit_stub(channel)
    events = settled(audit, done.project_id, *ACTED)
    middle = events[len(events) // 2].position
    stream = Stream(audit, middle)  # every project
    # The only project in this store: the stream of every project sends the same.
    expected = [e for e in events if e.position > middle]
    assert stream.take(len(expected)) == expected
    assert stream.idle()
    stream.cancel()


def test_reconnecting_with_the_last_position_misses_nothing_while_writers_race(
    server, channel, stub
):
    audit = audit_stub(channel)
    project_id = create_request().project_id
    sources = audit_writers(channel, stub, project_id)
    received: list[pb.AuditEvent] = []
    connections = 0
    for thread in sources:
        thread.start()
    while any(thread.is_alive() for thread in sources):
        stream = Stream(audit, received[-1].position if received else 0)
        received += stream.take_some(4)  # then hang up mid-stream and come back
        stream.cancel()
        connections += 1
    for thread in sources:
        thread.join()
    everything = poll(
        lambda: list_all(audit, project_id=project_id, order=OLDEST),
        lambda events: (
            sum(e.event_type == "secret_sync.sync_requested" for e in events) >= 6
            and sum(e.event_type == "secret.set" for e in events) >= 6
            and sum(e.event_type == "connection.created" for e in events) >= 7
        ),
        timeout=15,
    )
    stream = Stream(audit, received[-1].position if received else 0)
    received += stream.take(len(everything) - len(received), timeout=15)
    assert stream.idle()
    stream.cancel()
    assert connections >= 2
    assert received == everything  # the only project in this store: all of the log
    assert [e.position for e in received] == list(range(1, len(received) + 1))  # dense


def audit_writers(channel, stub, project_id: str) -> list[threading.Thread]:
    """Three threads, one per application, each making six changes."""
    source = SecretSourceServiceStub(channel)

    def syncs() -> None:
        for n in range(6):
            stub.CreateSecretSync(create_request(name=f"raced-{n}"))

    def secrets() -> None:
        for n in range(6):
            secret = source_pb.Secret(key=f"KEY_{n}", value=f"v{n}")
            source.SetSecret(
                source_api.SetSecretRequest(
                    project_id=project_id, environment="dev", path="/my-secrets", secret=secret
                )
            )

    def connections() -> None:
        for n in range(6):
            new_connection(channel, project_id, f"raced-{n}")

    return [threading.Thread(target=job) for job in (syncs, secrets, connections)]


def test_a_stream_ends_when_the_server_stops(server, channel):
    audit = audit_stub(channel)
    stream = Stream(audit, 0)
    stream.take(1)
    server.stop(grace=2.0)
    items = [stream.next() for _ in range(100) if not stream.finished]
    assert items[-1] == Stream.END  # after what was sent before the stop
    assert stream.call.code() == grpc.StatusCode.OK


def test_bad_stream_requests_are_refused_naming_the_field(server, channel):
    audit = audit_stub(channel)
    cases = [
        (api.StreamAuditEventsRequest(after_position=-1), ["after_position"]),
        (api.StreamAuditEventsRequest(project_id="not-a-uuid"), ["project_id"]),
        (
            api.StreamAuditEventsRequest(after_position=-5, project_id="x"),
            ["after_position", "project_id"],
        ),
    ]
    for request, fields in cases:
        assert_invalid(stream_fails(audit.StreamAuditEvents, request), *fields)
