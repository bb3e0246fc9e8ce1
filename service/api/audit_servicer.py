"""The AuditService servicer: the audit view, read by page, by position and as a stream."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc
from hanzo.kms.secretsync.v1 import audit_service_pb2 as api
from hanzo.kms.secretsync.v1 import audit_service_pb2_grpc as api_grpc

from adapters.audit_view import AuditRow, AuditView
from domain.errors import (
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    SecretSyncError,
    require,
)
from domain.permissions import READ_AUDIT
from domain.rules import check_uuid
from service.api.audit_convert import LISTING, event_to_proto, list_query, token_filters
from service.api.errors import to_status, translate_errors
from service.api.paging import split_page
from service.app import access
from service.app.streams import check_stream
from service.views.progress import Progress

STREAM_BATCH = 500
# How long an idle stream waits before it looks again. Rows written by this process
# wake it at once; rows written by another process on the same database are seen
# within this time.
STREAM_POLL_SECONDS = 0.5
AUDIT_EVENT_NOT_FOUND = "AUDIT_EVENT_NOT_FOUND"


class AuditServicer(api_grpc.AuditServiceServicer):
    def __init__(self, view: AuditView, progress: Progress, stopping: threading.Event) -> None:
        self.view = view
        self.progress = progress  # the last position this process wrote
        self.stopping = stopping

    @translate_errors
    def ListAuditEvents(
        self, request: api.ListAuditEventsRequest, context: grpc.ServicerContext
    ) -> api.ListAuditEventsResponse:
        query = list_query(request)
        rows = self.view.list_rows(query)
        filters = token_filters(query)
        page, token = split_page(rows, query.limit - 1, LISTING, filters, lambda r: r.position)
        return api.ListAuditEventsResponse(
            events=[event_to_proto(r) for r in page], next_page_token=token
        )

    @translate_errors
    def GetAuditEvent(
        self, request: api.GetAuditEventRequest, context: grpc.ServicerContext
    ) -> api.GetAuditEventResponse:
        violations = check_uuid("project_id", request.project_id)
        if request.position <= 0:
            violations.append(FieldViolation("position", "must be a positive position"))
        require(violations)
        row = self.view.get_row(request.project_id.lower(), request.position)
        if row is None:  # also another project's event: its existence is not told
            raise NotFound(
                f"no audit event at position {request.position} in project {request.project_id}",
                AUDIT_EVENT_NOT_FOUND,
            )
        return api.GetAuditEventResponse(event=event_to_proto(row))

    def StreamAuditEvents(
        self, request: api.StreamAuditEventsRequest, context: grpc.ServicerContext
    ) -> Iterator[api.StreamAuditEventsResponse]:
        violations = []
        if request.after_position < 0:
            violations.append(FieldViolation("after_position", "must not be negative"))
        if request.project_id:
            violations += check_uuid("project_id", request.project_id)
        if violations:
            context.abort_with_status(to_status(InvalidArgument(violations)))
        return self._stream(request.after_position, request.project_id.lower(), context)

    @staticmethod
    def _check(project_id: str, allowed: bool) -> None:
        """A stream of one project the caller could read ends when it no longer may; one
        of a project it never could stays as empty as a missing project's."""
        check_stream()
        if allowed and not access.may(READ_AUDIT, project_id):
            raise PermissionDenied(f"no longer allowed to read the audit of project {project_id}")

    @staticmethod
    def _readable(row: AuditRow) -> bool:
        """A stream shows only the projects whose audit the caller may read."""
        return access.may(READ_AUDIT, row.project_id)

    def _stream(
        self, after: int, project_id: str, context: grpc.ServicerContext
    ) -> Iterator[api.StreamAuditEventsResponse]:
        try:
            yield from self._follow(after, project_id, context)
        except SecretSyncError as error:  # the caller lost the right, or the stream its time
            context.abort_with_status(to_status(error))

    def _follow(
        self, after: int, project_id: str, context: grpc.ServicerContext
    ) -> Iterator[api.StreamAuditEventsResponse]:
        """Catch up in batches, then follow. Positions are committed in order (see
        adapters/audit_view.py), so asking for "after the last one sent" never skips
        a row and never repeats one. The caller is checked again before every message
        and every look (service/app/streams.py)."""
        allowed = bool(project_id) and access.may(READ_AUDIT, project_id)
        while context.is_active() and not self.stopping.is_set():
            self._check(project_id, allowed)
            # Every row up to `known` was committed before this query starts.
            known = self.progress.position
            rows = self.view.rows_after(after, STREAM_BATCH, project_id)
            for row in rows:
                self._check(project_id, allowed)
                if self._readable(row):
                    yield api.StreamAuditEventsResponse(event=event_to_proto(row))
                after = row.position
            if len(rows) < STREAM_BATCH:  # caught up: wait for a row after `known`
                self.progress.wait_for_position(max(known, after) + 1, STREAM_POLL_SECONDS)
