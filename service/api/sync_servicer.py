"""The SecretSyncService servicer: parse, call one use case, answer from the view."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC

import grpc
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from adapters.sync_view import SecretSyncView, SyncFilter, SyncRow
from domain.errors import (
    FailedPrecondition,
    FieldViolation,
    PermissionDenied,
    SecretSyncError,
    SecretSyncNotFound,
    require,
)
from domain.permissions import READ
from domain.rules import check_name, check_uuid
from domain.sync_record import SyncRecord
from domain.vault import VaultError
from service.api import sync_convert as convert
from service.api.connection_names import ConnectionNames
from service.api.errors import to_status, translate_errors
from service.api.paging import DEFAULT_PAGE_SIZE, page_token, read_page_token, visible_page
from service.app import access
from service.app.call_context import call_context
from service.app.secret_syncs import SecretSyncs, Written
from service.app.streams import check_stream
from service.jobs.job_runner import JobRunner
from service.views.progress import Progress
from service.views.read_cache import ReadCache

MAX_PAGE_SIZE = 500
SYNCS = "secret_syncs"  # the list's name in its page tokens
WATCH_POLL_SECONDS = 1.0
log = logging.getLogger("secretsync.api")


class SecretSyncServicer(api_grpc.SecretSyncServiceServicer):
    def __init__(
        self,
        app: SecretSyncs,
        view: SecretSyncView,
        progress: Progress,
        write_wait_seconds: float,
        stopping: threading.Event,
        read_cache: ReadCache,
        planner: JobRunner,
        connection_names: Callable[[str], str],
    ) -> None:
        self.planner = planner
        self.connection_names = ConnectionNames(connection_names)
        self.app = app
        self.view = view
        self.progress = progress
        self.read_cache = read_cache
        self.write_wait_seconds = write_wait_seconds
        self.stopping = stopping

    def _shown(self, record: SyncRecord) -> convert.pb.SecretSync:
        shown = convert.sync_to_proto(record)
        shown.connection.name = self.connection_names(shown.connection_id)
        return shown

    def _row(self, row: SyncRow) -> convert.pb.SecretSync:
        return self._shown(row.to_record())

    # --- writes --------------------------------------------------------------

    def _settled(self, written: Written) -> convert.pb.SecretSync:
        """Wait until the view holds this write, so a following read sees it."""
        if written.position and not self.progress.wait_for_position(
            written.position, self.write_wait_seconds
        ):
            log.warning("view is behind: position %s not yet projected", written.position)
        return self._shown(SyncRecord.of(written.sync))

    @translate_errors
    def CreateSecretSync(
        self, request: api.CreateSecretSyncRequest, context: grpc.ServicerContext
    ) -> api.CreateSecretSyncResponse:
        written = self.app.create(
            request.project_id,
            convert.settings_from(request),
            call_context(request.request_id),
        )
        return api.CreateSecretSyncResponse(secret_sync=self._settled(written))

    @translate_errors
    def UpdateSecretSync(
        self, request: api.UpdateSecretSyncRequest, context: grpc.ServicerContext
    ) -> api.UpdateSecretSyncResponse:
        require(check_uuid("id", request.id))
        written = self.app.update(
            request.id,
            request.etag,
            convert.masked_fields(request),
            call_context(request.request_id),
        )
        return api.UpdateSecretSyncResponse(secret_sync=self._settled(written))

    @translate_errors
    def DeleteSecretSync(
        self, request: api.DeleteSecretSyncRequest, context: grpc.ServicerContext
    ) -> api.DeleteSecretSyncResponse:
        written = self.app.delete(
            request.id, request.etag, request.remove_secrets, call_context(request.request_id)
        )
        return api.DeleteSecretSyncResponse(
            secret_sync=self._settled(written),
            deleted=written.sync.deleted,
            remove_job_id=written.job_id,
        )

    @translate_errors
    def TriggerSecretSync(
        self, request: api.TriggerSecretSyncRequest, context: grpc.ServicerContext
    ) -> api.TriggerSecretSyncResponse:
        if request.validate_only:
            return self._dry_run(request)
        written = self.app.trigger(request.id, call_context(request.request_id))
        return api.TriggerSecretSyncResponse(
            secret_sync=self._settled(written), job_id=written.job_id
        )

    def _dry_run(self, request: api.TriggerSecretSyncRequest) -> api.TriggerSecretSyncResponse:
        sync = self.app.for_dry_run(request.id, call_context(request.request_id))
        try:
            plan = self.planner.plan(sync)
        except VaultError as error:
            raise FailedPrecondition(
                f"the vault answered {error.code}: {error}", "VAULT_ERROR"
            ) from None
        return api.TriggerSecretSyncResponse(
            secret_sync=self._shown(SyncRecord.of(sync)),
            plan=[convert.plan_step(step) for step in plan.steps],
            blocking=plan.blocking,
        )

    @translate_errors
    def ImportSecrets(
        self, request: api.ImportSecretsRequest, context: grpc.ServicerContext
    ) -> api.ImportSecretsResponse:
        written = self.app.import_secrets(
            request.id,
            convert.IMPORT_BEHAVIORS.get(request.import_behavior),
            call_context(request.request_id),
        )
        return api.ImportSecretsResponse(secret_sync=self._settled(written), job_id=written.job_id)

    @translate_errors
    def RemoveSecrets(
        self, request: api.RemoveSecretsRequest, context: grpc.ServicerContext
    ) -> api.RemoveSecretsResponse:
        written = self.app.remove_secrets(request.id, call_context(request.request_id))
        return api.RemoveSecretsResponse(secret_sync=self._settled(written), job_id=written.job_id)

    # --- reads (from the view) -----------------------------------------------

    @translate_errors
    def GetSecretSync(
        self, request: api.GetSecretSyncRequest, context: grpc.ServicerContext
    ) -> api.GetSecretSyncResponse:
        as_of = request.WhichOneof("as_of")
        if as_of and not request.id:
            require([FieldViolation(as_of, "needs id (the history of a sync is by its id)")])
        if as_of == "as_of_version":
            if request.as_of_version < 1:
                require([FieldViolation("as_of_version", "must be 1 or more")])
            sync = self.app.as_of(request.id, version=request.as_of_version)
            return api.GetSecretSyncResponse(secret_sync=self._shown(SyncRecord.of(sync)))
        if as_of == "as_of_time":
            try:
                moment = request.as_of_time.ToDatetime(tzinfo=UTC)
            except (ValueError, OverflowError):  # nanos out of range, or past year 9999
                require([FieldViolation("as_of_time", "is not a valid timestamp")])
            sync = self.app.as_of(request.id, moment=moment)
            return api.GetSecretSyncResponse(secret_sync=self._shown(SyncRecord.of(sync)))
        if request.id:
            return self._get_by_id(request.id)
        require(check_uuid("project_id", request.project_id) + check_name(request.name))
        row = self.view.find_row(request.project_id.lower(), request.name)
        missing = SecretSyncNotFound(
            f"no secret sync named {request.name!r} in project {request.project_id}"
        ).about(resource_id=request.name, field="name")
        if row is None:
            raise missing
        answer = api.GetSecretSyncResponse(secret_sync=self._row(row))
        _may_see(answer.secret_sync, missing)
        return answer

    def _get_by_id(self, sync_id: str) -> api.GetSecretSyncResponse:
        require(check_uuid("id", sync_id))
        key = sync_id.lower()
        answer, generation = self.read_cache.get(key)
        if answer is None:
            row = self.view.get_row(key)
            if row is None:
                raise SecretSyncNotFound(f"secret sync {sync_id} not found").about(
                resource_id=key, field="id"
            )
            answer = api.GetSecretSyncResponse(secret_sync=self._row(row))
            self.read_cache.put(key, generation, answer)
        missing = SecretSyncNotFound(f"secret sync {sync_id} not found")
        _may_see(answer.secret_sync, missing.about(resource_id=key, field="id"))
        return answer

    @translate_errors
    def ListSecretSyncs(
        self, request: api.ListSecretSyncsRequest, context: grpc.ServicerContext
    ) -> api.ListSecretSyncsResponse:
        query = _list_query(request)

        def fetch(after_name: str | None, limit: int) -> list[convert.pb.SecretSync]:
            batch = replace(query, after_name=after_name or "", limit=limit)
            return [self._row(row) for row in self.view.list_rows(batch)]

        # A caller narrowed to environments or paths sees only its syncs, in whole pages.
        size = query.limit - 1
        page, last = visible_page(fetch, _readable, size, lambda s: s.name, query.after_name)
        token = page_token(SYNCS, _token_filters(query), last) if last is not None else ""
        return api.ListSecretSyncsResponse(secret_syncs=page, next_page_token=token)

    def WatchSecretSync(
        self, request: api.WatchSecretSyncRequest, context: grpc.ServicerContext
    ) -> Iterator[api.WatchSecretSyncResponse]:
        try:
            require(check_uuid("id", request.id))
            sync_id = request.id.lower()
            row = self.view.get_row(sync_id)
            missing = SecretSyncNotFound(f"secret sync {request.id} not found").about(
                resource_id=sync_id, field="id"
            )
            if row is None:
                raise missing
            _may_see(self._row(row), missing)
        except SecretSyncError as error:
            context.abort_with_status(to_status(error))
        return self._watch(sync_id, context)

    def _watch(
        self, sync_id: str, context: grpc.ServicerContext
    ) -> Iterator[api.WatchSecretSyncResponse]:
        try:
            yield from self._changes(sync_id, context)
        except SecretSyncError as error:  # the caller lost the right, or the stream its time
            context.abort_with_status(to_status(error))

    def _changes(
        self, sync_id: str, context: grpc.ServicerContext
    ) -> Iterator[api.WatchSecretSyncResponse]:
        """Every look (at least once a second) checks the caller again, and what it would
        send: a sync moved out of the caller's reach ends the stream (service/app/streams.py)."""
        seen_version, last = -1, None
        while context.is_active() and not self.stopping.is_set():
            check_stream()
            changes = self.progress.changes(sync_id)
            row = self.view.get_row(sync_id)
            if row is None:
                if last is not None:
                    yield api.WatchSecretSyncResponse(secret_sync=last, deleted=True)
                return
            if row.version != seen_version:
                seen_version, last = row.version, self._row(row)
                _still_readable(last)
                yield api.WatchSecretSyncResponse(secret_sync=last)
            elif last is not None:
                _still_readable(last)  # the caller's rights may have changed, not the sync
            self.progress.wait_for_change(sync_id, changes, WATCH_POLL_SECONDS)


def _may_see(sync: convert.pb.SecretSync, missing: SecretSyncError) -> None:
    """The caller's permission on a sync it asked for (service/app/access.py)."""
    place = (sync.environment.slug, sync.folder.path)
    access.resource(access.SYNC, sync.project_id, *place, missing)


def _still_readable(sync: convert.pb.SecretSync) -> None:
    """A fixed message: where the sync went is not the caller's to learn from its watch."""
    if not _readable(sync):
        raise PermissionDenied(f"no longer allowed to read secret sync {sync.id}")


def _readable(sync: convert.pb.SecretSync) -> bool:
    return access.may(READ, sync.project_id, sync.environment.slug, sync.folder.path)




def _list_query(request: api.ListSecretSyncsRequest) -> SyncFilter:
    violations = check_uuid("project_id", request.project_id)
    if request.page_size < 0:
        violations.append(FieldViolation("page_size", "must not be negative"))
    if request.connection_id:
        violations += check_uuid("connection_id", request.connection_id)
    status = ""
    if request.sync_status:
        status = convert.JOB_STATUS_NAMES.get(request.sync_status, "")
        if not status:
            violations.append(FieldViolation("sync_status", "is not a known job status"))
    require(violations)
    size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    query = SyncFilter(
        project_id=request.project_id.lower(),
        limit=size + 1,  # one more than the page tells whether another page follows
        connection_id=request.connection_id.lower(),
        environment=request.environment,
        sync_status=status,
    )
    after = read_page_token(request.page_token, SYNCS, _token_filters(query))
    if after is not None:
        query = SyncFilter(**{**query.__dict__, "after_name": after})
    return query


def _token_filters(query: SyncFilter) -> dict[str, str]:
    return {
        "project_id": query.project_id,
        "connection_id": query.connection_id,
        "environment": query.environment,
        "sync_status": query.sync_status,
    }
