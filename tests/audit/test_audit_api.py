"""ListAuditEvents and GetAuditEvent over gRPC on both stores: what was done, by whom,
under which request id; filters, both orders, stable pages; never a value or secret."""

from __future__ import annotations

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from hanzo.kms.secretsync.v1 import audit_pb2 as pb
from hanzo.kms.secretsync.v1 import audit_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as sync_pb

from tests.audit.helpers import (
    ACTED,
    CLIENT_SECRET,
    SECRET_VALUE,
    act,
    audit_stub,
    list_all,
    settled,
)
from tests.conftest import create_request, new_project
from tests.integration.sync_helpers import assert_error, fails, poll

OLDEST, NEWEST = pb.AUDIT_ORDER_OLDEST_FIRST, pb.AUDIT_ORDER_NEWEST_FIRST


def test_the_audit_says_what_was_done_by_whom_under_which_request(server, channel):
    done = act(server, channel)
    stub = audit_stub(channel)
    events = settled(stub, done.project_id, *ACTED)

    sync = [e for e in events if e.resource_id == done.sync_id]
    assert [(e.event_type, e.actor, e.request_id) for e in sync] == [
        ("secret_sync.created", "anonymous", done.request_ids["create"]),  # x-request-id
        ("secret_sync.sync_requested", "anonymous", done.request_ids["create"]),
        ("secret_sync.updated", "anonymous", done.request_ids["update"]),  # request_id field
        ("secret_sync.sync_requested", "anonymous", done.request_ids["trigger"]),
        ("secret_sync.job_started", "worker", done.job_id),
        ("secret_sync.job_succeeded", "worker", done.job_id),
        ("secret_sync.deleted", "anonymous", done.request_ids["delete"]),
    ]
    assert [e.version for e in sync] == list(range(1, 8))
    assert {e.resource_name for e in sync} == {"my-key-vault-sync"}
    assert {e.resource_type for e in sync} == {pb.AUDIT_RESOURCE_TYPE_SECRET_SYNC}
    assert sync[1].summary.details["reason"] == "created"
    assert sync[2].summary.changed_fields == ["description"]
    assert [e.job_id for e in sync[3:6]] == [done.job_id] * 3
    assert sync[3].summary.job_status == sync_pb.JOB_STATUS_PENDING
    assert sync[4].summary.job_status == sync_pb.JOB_STATUS_RUNNING
    finished = sync[5].summary
    assert finished.job_status == sync_pb.JOB_STATUS_SUCCEEDED
    assert (dict(finished.counts), finished.message) == (
        {"created": 2, "unchanged": 0},
        "2 created",
    )

    secrets = [e for e in events if e.event_type.startswith("secret.")]
    assert [(e.event_type, list(e.summary.secret_keys), e.request_id) for e in secrets] == [
        ("secret.set", ["DB_PASSWORD", "API_KEY"], done.request_ids["set"]),
        ("secret.deleted", ["API_KEY"], done.request_ids["unset"]),
    ]
    assert {(e.resource_id, e.resource_name) for e in secrets} == {
        (done.folder_id, "dev:/my-secrets")
    }
    (connection,) = [e for e in events if e.resource_id == done.connection_id]
    assert (connection.event_type, connection.request_id) == (
        "connection.created",
        done.request_ids["connection"],
    )
    assert connection.summary.details["auth_method"] == "client_secret"

    positions = [e.position for e in events]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert all(e.project_id == done.project_id for e in events)
    # Each application's events keep their order; across applications they interleave
    # as each follower goes.
    sources = [e.event_type for e in events if e.event_type.split(".")[0] in SOURCE_TYPES]
    assert sources[0] == "project.created"
    times = [e.time.ToMicroseconds() for e in sync]
    assert times == sorted(times) and times[0] > 0


SOURCE_TYPES = ("project", "environment", "folder", "secret", "import")


def test_no_record_holds_a_secret_value_or_credential(server, channel):
    done = act(server, channel)
    stub = audit_stub(channel)
    events = settled(stub, done.project_id, *ACTED)
    wire = b"".join(e.SerializeToString() for e in events)
    wire += b"".join(
        stub.GetAuditEvent(
            api.GetAuditEventRequest(project_id=done.project_id, position=e.position)
        ).SerializeToString()
        for e in events
    )
    for marked in (SECRET_VALUE, CLIENT_SECRET):
        assert marked.encode() not in wire
    assert b"DB_PASSWORD" in wire  # keys are there: only values are not


def test_filters_narrow_the_list_and_both_orders_agree(server, channel):
    done = act(server, channel)
    stub = audit_stub(channel)
    everything = settled(stub, done.project_id, *ACTED)
    other = new_project(channel)  # another project's events never show
    settled(stub, other, "connection.created")

    def listed(**filters: object) -> list[int]:
        oldest = list_all(stub, 2, project_id=done.project_id, order=OLDEST, **filters)
        newest = list_all(stub, 3, project_id=done.project_id, order=NEWEST, **filters)
        assert [e.position for e in newest] == [e.position for e in reversed(oldest)]
        return [e.position for e in oldest]

    def expected(keep) -> list[int]:
        return [e.position for e in everything if keep(e)]

    assert listed() == expected(lambda e: True)
    assert listed(resource_id=done.sync_id) == expected(lambda e: e.resource_id == done.sync_id)
    secret_syncs = pb.AUDIT_RESOURCE_TYPE_SECRET_SYNC
    assert listed(resource_type=secret_syncs) == expected(lambda e: e.resource_type == secret_syncs)
    types = ["secret.set", "connection.created", "secret_sync.job_succeeded"]
    assert listed(event_types=types) == expected(lambda e: e.event_type in types)
    assert listed(actor="worker") == expected(lambda e: e.actor == "worker")
    assert len(listed(actor="worker")) == 2
    assert listed(actor="nobody") == []
    middle = everything[len(everything) // 2].time
    at = middle.ToNanoseconds()
    assert listed(start_time=middle) == expected(lambda e: e.time.ToNanoseconds() >= at)
    assert listed(end_time=middle) == expected(lambda e: e.time.ToNanoseconds() < at)
    started = ["secret_sync.job_started"]
    assert listed(resource_id=done.sync_id, actor="worker", event_types=started) == expected(
        lambda e: e.resource_id == done.sync_id and e.event_type == started[0]
    )
    assert list_all(stub, project_id=other.upper()) == list_all(stub, project_id=other)


def test_pages_stay_stable_while_new_events_arrive(server, stub, channel):
    audit = audit_stub(channel)
    project_id = create_request().project_id
    for n in range(3):
        stub.CreateSecretSync(create_request(name=f"before-{n}"))
    settled(audit, project_id, "connection.created")  # the test project's own connection
    before = positions(settled(audit, project_id, "secret_sync.sync_requested", count=3))
    newest = audit.ListAuditEvents(api.ListAuditEventsRequest(project_id=project_id, page_size=4))
    oldest = audit.ListAuditEvents(
        api.ListAuditEventsRequest(project_id=project_id, page_size=4, order=OLDEST)
    )
    for n in range(2):  # new events between the first pages and the next ones
        stub.CreateSecretSync(create_request(name=f"after-{n}"))
    after = positions(settled(audit, project_id, "secret_sync.sync_requested", count=5))
    assert len(after) == len(before) + 4

    def read_on(first: api.ListAuditEventsResponse, order: int) -> list[int]:
        seen, token = positions(first.events), first.next_page_token
        while token:
            page = audit.ListAuditEvents(
                api.ListAuditEventsRequest(
                    project_id=project_id, page_size=4, order=order, page_token=token
                )
            )
            seen += positions(page.events)
            token = page.next_page_token
        return seen

    assert read_on(newest, NEWEST) == before[::-1]  # new events only on a new first page
    assert read_on(oldest, OLDEST) == after  # new events on later pages, none twice


def positions(events: object) -> list[int]:
    return [e.position for e in events]  # type: ignore[attr-defined]


def test_get_audit_event_by_position_within_its_project(server, channel):
    stub = audit_stub(channel)
    project_id = create_request().project_id
    events = settled(stub, project_id, "connection.created")
    for event in events:
        got = stub.GetAuditEvent(
            api.GetAuditEventRequest(project_id=project_id.upper(), position=event.position)
        ).event
        assert got == event
    other = new_project(channel)
    settled(stub, other, "connection.created")
    for project, position in ((other, events[0].position), (project_id, 10**9)):
        failure = fails(
            stub.GetAuditEvent, api.GetAuditEventRequest(project_id=project, position=position)
        )
        assert_error(failure, grpc.StatusCode.NOT_FOUND, "AUDIT_EVENT_NOT_FOUND")


def test_a_time_range_is_inclusive_at_the_start_and_exclusive_at_the_end(server, channel):
    stub = audit_stub(channel)
    project_id = create_request().project_id
    # All five of new_project's events (two followers write them, each at its pace):
    # counting before the last arrives would see one more event in the range.
    events = poll(
        lambda: list_all(stub, project_id=project_id, order=pb.AUDIT_ORDER_OLDEST_FIRST),
        lambda events: len(events) >= 5,
        timeout=10,
    )
    first = events[0].time

    def count(**bounds: Timestamp) -> int:
        return len(list_all(stub, project_id=project_id, **bounds))

    later = Timestamp()
    later.FromNanoseconds(first.ToNanoseconds() + 1)
    assert count(start_time=first, end_time=later) >= 1
    assert count(end_time=first) == 0
    assert count(start_time=later) == len(
        [e for e in events if e.time.ToNanoseconds() > first.ToNanoseconds()]
    )
