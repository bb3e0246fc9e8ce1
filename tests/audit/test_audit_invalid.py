"""Bad audit requests: INVALID_ARGUMENT with a BadRequest naming every bad field, never
UNKNOWN or INTERNAL; a page token only works for the query that made it."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp
from hanzo.kms.secretsync.v1 import audit_pb2 as pb
from hanzo.kms.secretsync.v1 import audit_service_pb2 as api

from tests.audit.helpers import audit_stub, settled
from tests.conftest import create_request, new_id
from tests.integration.sync_helpers import assert_invalid, fails

List = api.ListAuditEventsRequest


def test_bad_list_and_get_requests_name_their_fields(server, channel):
    audit = audit_stub(channel)
    project_id = create_request().project_id
    settled(audit, project_id, "connection.created")
    token = audit.ListAuditEvents(List(project_id=project_id, page_size=1)).next_page_token
    assert token
    at = Timestamp(seconds=1_700_000_000)
    cases = [
        (List(), ["project_id"]),
        (List(project_id="not-a-uuid"), ["project_id"]),
        (List(project_id=project_id, resource_id="sync-1"), ["resource_id"]),
        (List(project_id=project_id, resource_type=99), ["resource_type"]),  # type: ignore[arg-type]
        (List(project_id=project_id, event_types=["secret.set", "nope"]), ["event_types[1]"]),
        (List(project_id=project_id, event_types=["secret.set"] * 51), ["event_types"]),
        (List(project_id=project_id, actor="a" * 257), ["actor"]),
        (List(project_id=project_id, start_time=Timestamp(seconds=10**12)), ["start_time"]),
        (List(project_id=project_id, end_time=Timestamp(nanos=-1)), ["end_time"]),
        (List(project_id=project_id, start_time=at, end_time=at), ["end_time"]),
        (List(project_id=project_id, order=7), ["order"]),  # type: ignore[arg-type]
        (List(project_id=project_id, page_size=-1), ["page_size"]),
        (List(project_id=project_id, page_token="garbage"), ["page_token"]),
        (List(project_id=project_id, page_token="e30="), ["page_token"]),  # "{}"
        # A token of one query is no token of another: other filters, order, project.
        (List(project_id=project_id, page_token=token, actor="anonymous"), ["page_token"]),
        (
            List(project_id=project_id, page_token=token, order=pb.AUDIT_ORDER_OLDEST_FIRST),
            ["page_token"],
        ),
        (List(project_id=new_id(), page_token=token), ["page_token"]),
        (List(project_id="x", page_size=-2, order=9), ["project_id", "page_size", "order"]),  # type: ignore[arg-type]
    ]
    for request, fields in cases:
        assert_invalid(fails(audit.ListAuditEvents, request), *fields)
    # The same token with another page size is fine: only filters and order bind it.
    assert audit.ListAuditEvents(List(project_id=project_id, page_size=3, page_token=token))

    gets = [
        (api.GetAuditEventRequest(), ["project_id", "position"]),
        (api.GetAuditEventRequest(project_id=project_id, position=-1), ["position"]),
        (api.GetAuditEventRequest(project_id="bad", position=1), ["project_id"]),
    ]
    for request, fields in gets:
        assert_invalid(fails(audit.GetAuditEvent, request), *fields)
