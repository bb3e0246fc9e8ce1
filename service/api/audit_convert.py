"""The audit API's requests as queries, rows as messages, and its page tokens."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp
from hanzo.kms.secretsync.v1 import audit_pb2 as pb
from hanzo.kms.secretsync.v1 import audit_service_pb2 as api

from adapters.audit_view import AuditQuery, AuditRow
from domain.audit import CONNECTION, EVENT_TYPES, FOLDER, PROJECT, SECRET_SYNC, SERVICE_TOKEN
from domain.errors import FieldViolation, InvalidArgument, require
from domain.rules import check_uuid
from service.api.paging import DEFAULT_PAGE_SIZE, read_page_token
from service.api.sync_convert import JOB_STATUSES

MAX_PAGE_SIZE = 500
MAX_EVENT_TYPES = 50
MAX_ACTOR = 256
RESOURCE_TYPES = {
    pb.AUDIT_RESOURCE_TYPE_SECRET_SYNC: SECRET_SYNC,
    pb.AUDIT_RESOURCE_TYPE_CONNECTION: CONNECTION,
    pb.AUDIT_RESOURCE_TYPE_FOLDER: FOLDER,
    pb.AUDIT_RESOURCE_TYPE_PROJECT: PROJECT,
    pb.AUDIT_RESOURCE_TYPE_SERVICE_TOKEN: SERVICE_TOKEN,
}
RESOURCE_TYPE_NUMBERS = {name: number for number, name in RESOURCE_TYPES.items()}
ORDERS = {
    pb.AUDIT_ORDER_UNSPECIFIED: True,  # newest first
    pb.AUDIT_ORDER_NEWEST_FIRST: True,
    pb.AUDIT_ORDER_OLDEST_FIRST: False,
}
# google.protobuf.Timestamp's valid range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
MIN_SECONDS, MAX_SECONDS = -62_135_596_800, 253_402_300_799
BAD_TOKEN = "is not a token from a previous page of this query (same filters and order)"
LISTING = "audit_events"


def event_to_proto(row: AuditRow) -> pb.AuditEvent:
    summary = row.summary_dict()
    time = Timestamp()
    time.FromMicroseconds(row.occurred_us)
    return pb.AuditEvent(
        position=row.position,
        event_type=row.event_type,
        resource_type=RESOURCE_TYPE_NUMBERS.get(row.resource_type, 0),  # type: ignore[arg-type]
        resource_id=row.resource_id,
        resource_name=row.resource_name,
        project_id=row.project_id,
        version=row.version,
        time=time,
        actor=row.actor,
        request_id=row.request_id,
        job_id=row.job_id,
        summary=pb.AuditSummary(
            job_status=JOB_STATUSES.get(summary.get("job_status"), 0),  # type: ignore[arg-type]
            counts=summary.get("counts", {}),
            message=summary.get("message", ""),
            changed_fields=summary.get("changed_fields", []),
            secret_keys=summary.get("secret_keys", []),
            details=summary.get("details", {}),
        ),
    )


def list_query(request: api.ListAuditEventsRequest) -> AuditQuery:
    """The query of a list request (page size + 1 rows: one more tells whether
    another page follows); INVALID_ARGUMENT naming every bad field."""
    violations = check_uuid("project_id", request.project_id)
    if request.resource_id:
        violations += check_uuid("resource_id", request.resource_id)
    if request.resource_type and request.resource_type not in RESOURCE_TYPES:
        violations.append(FieldViolation("resource_type", "is not a known resource type"))
    violations += _check_event_types(list(request.event_types))
    if len(request.actor) > MAX_ACTOR:
        violations.append(FieldViolation("actor", f"must be at most {MAX_ACTOR} characters"))
    start = _microseconds(request, "start_time", violations)
    end = _microseconds(request, "end_time", violations)
    if start is not None and end is not None and end <= start:
        violations.append(FieldViolation("end_time", "must be after start_time"))
    if request.order not in ORDERS:
        violations.append(FieldViolation("order", "is not a known order"))
    if request.page_size < 0:
        violations.append(FieldViolation("page_size", "must not be negative"))
    require(violations)
    query = AuditQuery(
        limit=min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE) + 1,
        project_id=request.project_id.lower(),
        resource_id=request.resource_id.lower(),
        resource_type=RESOURCE_TYPES.get(request.resource_type, ""),
        event_types=tuple(sorted(set(request.event_types))),
        actor=request.actor,
        start_us=start,
        end_us=end,
        newest_first=ORDERS[request.order],
    )
    if not request.page_token:
        return query
    return AuditQuery(**{**query.__dict__, "after": _read_token(request.page_token, query)})


def _check_event_types(event_types: list[str]) -> list[FieldViolation]:
    if len(event_types) > MAX_EVENT_TYPES:
        return [FieldViolation("event_types", f"must name at most {MAX_EVENT_TYPES} types")]
    return [
        FieldViolation(f"event_types[{index}]", f"is not a known event type: {name[:64]!r}")
        for index, name in enumerate(event_types)
        if name not in EVENT_TYPES
    ]


def _microseconds(
    request: api.ListAuditEventsRequest, field: str, violations: list[FieldViolation]
) -> int | None:
    """The time as microseconds since the epoch, rounded up: an event (recorded to
    the microsecond) is at or after a bound exactly when it is at or after this."""
    if not request.HasField(field):  # type: ignore[arg-type]
        return None
    time: Timestamp = getattr(request, field)
    if not MIN_SECONDS <= time.seconds <= MAX_SECONDS or not 0 <= time.nanos < 1_000_000_000:
        violations.append(FieldViolation(field, "is not a valid timestamp"))
        return None
    return time.seconds * 1_000_000 - (-time.nanos // 1000)


def token_filters(query: AuditQuery) -> dict[str, object]:
    """What a token is valid for: the filters and the order, not the position."""
    return {k: v for k, v in query.__dict__.items() if k not in ("limit", "after")}


def _read_token(token: str, query: AuditQuery) -> int:
    after = read_page_token(token, LISTING, token_filters(query), int)
    if after <= 0:
        raise InvalidArgument([FieldViolation("page_token", BAD_TOKEN)])
    return int(after)
