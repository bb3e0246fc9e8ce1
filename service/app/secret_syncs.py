"""Use cases of secret syncs: each loads aggregates, calls one command, saves.

`save` returns the position of the last event written, so that callers can wait
for the read model to include it (read-your-writes).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from domain.errors import (
    ConcurrentChange,
    EtagMismatch,
    FailedPrecondition,
    FieldViolation,
    NameTaken,
    NotFound,
    SecretSyncNotFound,
    echo,
    require,
)
from domain.job_lease import JobLease, lease_id
from domain.name_claim import NameClaim, sync_names
from domain.options import ImportBehavior, JobKind
from domain.rules import SyncSettings, check_request_id, check_settings, check_uuid
from domain.secret_sync import RETRY, SecretSync
from service.app import access
from service.app.call_context import CallContext
from service.app.connections import AzureConnections
from service.app.retry import retried
from service.app.secret_sources import SecretSources
from service.runtime.config import APP_NAME

# A change to any of these, on an auto-sync sync, requests a sync job at once.
RESYNC_ON_CHANGE = {
    "is_enabled",
    "connection_id",
    "environment",
    "secret_path",
    "vault_base_url",
    "key_schema",
    "disable_secret_deletion",
}


@dataclass(frozen=True)
class Written:
    """A sync after a command, and the log position of its last event."""

    sync: SecretSync
    position: int
    job_id: str = ""


class SecretSyncs(Application[UUID]):
    name = APP_NAME
    # A busy sync gains events with every job (three a run): loading it must not
    # replay them all. Snapshots live in their own table, beside the events.
    snapshotting_intervals = {SecretSync: 50}

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        sources: SecretSources | None = None,
        connections: AzureConnections | None = None,
    ) -> None:
        """`sources`: where syncs read their secrets; `connections`: how syncs reach their
        vaults. Both are needed by commands; a reader of the log (rebuild) needs neither."""
        super().__init__(env=env)
        self._sources, self._connections = sources, connections

    @property
    def sources(self) -> SecretSources:
        if self._sources is None:
            raise RuntimeError("SecretSyncs was built without the secret source")
        return self._sources

    @property
    def connections(self) -> AzureConnections:
        if self._connections is None:
            raise RuntimeError("SecretSyncs was built without the Azure connections")
        return self._connections

    @property
    def allow_loopback_vaults(self) -> bool:
        return bool(self.env.get("SECRET_SYNC_DEV_MODE"))

    # --- commands ------------------------------------------------------------

    def create(self, project_id: str, settings: SyncSettings, ctx: CallContext) -> Written:
        settings, violations = check_settings(
            settings, allow_loopback_vaults=self.allow_loopback_vaults
        )
        require(check_uuid("project_id", project_id) + violations + _request_id(ctx))
        project_id = project_id.lower()
        source = asdict(self.sources.locate(project_id, settings.environment, settings.secret_path))
        self._check_connection(project_id, settings.connection_id, settings.vault_base_url)
        # Most names are new: the first try claims without reading the claim; only
        # after a clash is it read (a failed save consumes the pending events, so
        # each try builds its aggregates afresh).
        for first_try in (True, False):
            sync = SecretSync.create(
                project_id, settings, ctx.actor, ctx.request_id, source, access.owner()
            )
            job_id = ""
            if settings.is_enabled:
                job_id = new_job_id()
                sync.request_sync(job_id, "created", ctx.actor, ctx.request_id)
            scope = sync_names(project_id)
            claim = (
                NameClaim(scope, settings.name)
                if first_try
                else self._claim(project_id, settings.name)
            )
            if not first_try and (earlier := self._made_by(claim.owner_id, ctx)) is not None:
                return earlier  # this very call, retried after a crash lost its answer
            self._take(claim, sync)  # NAME_TAKEN if another sync holds it
            try:
                return Written(sync, self._save(sync, claim), job_id)
            except ConcurrentChange:
                continue
        taken = f"the name {settings.name!r} is taken in project {project_id}"
        raise NameTaken(taken)

    @retried
    def update(self, sync_id: str, etag: str, fields: dict[str, Any], ctx: CallContext) -> Written:
        """Change the named settings fields; ABORTED if `etag` is given and stale."""
        sync = self._load(sync_id, etag)
        wanted, violations = check_settings(
            replace(sync.settings(), **fields),
            allow_loopback_vaults=self.allow_loopback_vaults,
        )
        # A schema's length depends on the environment: moving the sync re-checks it.
        checked = fields.keys() | ({"key_schema"} if "environment" in fields else set())
        require([v for v in violations if _field_of(v) in checked] + _request_id(ctx))
        if {"connection_id", "vault_base_url"} & fields.keys() and (
            wanted.connection_id != sync.connection_id
            or wanted.vault_base_url != sync.vault_base_url
        ):
            self._check_connection(sync.project_id, wanted.connection_id, wanted.vault_base_url)
        old_name = sync.name
        changes = sync.update(wanted, ctx.actor, ctx.request_id, access.owner())
        if not changes:
            return Written(sync, 0)
        if {"environment", "secret_path"} & changes.keys():
            access.place(sync.project_id, sync.environment, sync.secret_path)  # may it go there?
            source = self.sources.locate(sync.project_id, sync.environment, sync.secret_path)
            sync.locate_source(**asdict(source), actor=ctx.actor, request_id=ctx.request_id)
        job_id = ""
        if sync.is_enabled and RESYNC_ON_CHANGE & changes.keys():
            job_id = new_job_id()
            sync.request_sync(job_id, "updated", ctx.actor, ctx.request_id)
        claims = []
        if sync.name != old_name:
            new_claim = self._claim(sync.project_id, sync.name)
            self._take(new_claim, sync)
            old_claim = self._claim(sync.project_id, old_name)
            old_claim.release(str(sync.id))
            claims = [new_claim, old_claim]
        return Written(sync, self._save(sync, *claims), job_id)

    @retried
    def delete(self, sync_id: str, etag: str, remove_secrets: bool, ctx: CallContext) -> Written:
        """Delete now, or (remove_secrets) request a removal that deletes on success."""
        require(_request_id(ctx))
        sync = self._load(sync_id, etag)
        if remove_secrets:
            job_id = new_job_id()
            sync.request_remove(job_id, True, ctx.actor, ctx.request_id)
            return Written(sync, self._save(sync), job_id)
        return Written(sync, self._save(*self.deletion(sync, ctx)))

    def deletion(self, sync: SecretSync, ctx: CallContext) -> list[Any]:
        """Delete `sync` and free its name: the aggregates to save together."""
        sync.delete(ctx.actor, ctx.request_id)
        claim = self._claim(sync.project_id, sync.name)
        claim.release(str(sync.id))
        return [sync, claim]

    def for_dry_run(self, sync_id: str, ctx: CallContext) -> SecretSync:
        """The sync a dry run plans for: it must exist and its folder too. Records nothing."""
        sync = self._load(sync_id)
        self._check_source(sync, ctx)
        return sync

    @retried
    def trigger(self, sync_id: str, ctx: CallContext) -> Written:
        require(_request_id(ctx))
        sync = self._load(sync_id)
        self._check_source(sync, ctx)
        job_id = new_job_id()
        sync.request_sync(job_id, "manual", ctx.actor, ctx.request_id)
        return Written(sync, self._save(sync), job_id)

    @retried
    def import_secrets(
        self, sync_id: str, behavior: ImportBehavior | None, ctx: CallContext
    ) -> Written:
        violations = _request_id(ctx)
        if behavior is None:
            violations.append(
                FieldViolation(
                    "import_behavior", "must be prioritize-source or prioritize-destination"
                )
            )
        require(violations)
        sync = self._load(sync_id)
        self._check_source(sync, ctx)
        job_id = new_job_id()
        sync.request_import(job_id, behavior, ctx.actor, ctx.request_id)  # type: ignore[arg-type]
        return Written(sync, self._save(sync), job_id)

    @retried
    def remove_secrets(self, sync_id: str, ctx: CallContext) -> Written:
        require(_request_id(ctx))
        sync = self._load(sync_id)
        job_id = new_job_id()
        sync.request_remove(job_id, False, ctx.actor, ctx.request_id)
        return Written(sync, self._save(sync), job_id)

    @retried
    def request_auto_sync(self, sync_id: str, ctx: CallContext, change_position: int = 0) -> bool:
        """A source change at `change_position` of the source's log: request a sync
        unless one is already pending (coalescing) or one started after it (saw it)."""
        sync = self.get_sync(sync_id)
        if not sync.is_enabled or sync.job(JobKind.SYNC)["status"] == "pending":
            return False
        if change_position and sync.synced_since(change_position):
            return False
        try:
            self._check_source(sync, ctx)
        except FailedPrecondition:
            return False
        sync.request_sync(new_job_id(), "auto", ctx.actor, ctx.request_id)
        self._save(sync)
        return True

    def request_retry(self, sync_id: str, now: datetime) -> bool:
        """Request the scheduled retry of a failed sync job, once it is due (any replica's
        worker may; the event store lets one win)."""
        sync = self.get_sync(sync_id)
        if not sync.retry_due(JobKind.SYNC, now):
            return False
        attempt, _ = sync.job_retry(JobKind.SYNC)
        sync.request_sync(new_job_id(), RETRY, RETRY_ACTOR, f"retry-{attempt}-{new_job_id()}")
        try:
            self._save(sync)
        except ConcurrentChange:
            return False  # another worker requested it, or the sync changed: look again
        return True

    @retried
    def request_refresh(self, sync_id: str, ctx: CallContext, now: datetime) -> bool:
        """Drift repair: request a sync of an enabled sync with a refresh interval whose
        last change (its last run's end, usually) is that long ago, unless a job is open."""
        sync = self.get_sync(sync_id)
        interval = sync.refresh_interval_seconds
        if not sync.is_enabled or not interval or sync.deleted:
            return False
        if sync.job(JobKind.SYNC)["status"] in ("pending", "running"):
            return False
        if sync.modified_on + timedelta(seconds=interval) > now:
            return False
        try:
            self._check_source(sync, ctx)
        except FailedPrecondition:
            return False
        sync.request_sync(new_job_id(), "refresh", ctx.actor, ctx.request_id)
        self._save(sync)
        return True

    @retried
    def record_source_lost(self, sync_id: str, problem: str, ctx: CallContext) -> None:
        sync = self.get_sync(sync_id)
        sync.lose_source(problem, ctx.actor, ctx.request_id)
        self._save(sync)

    @retried
    def record_source_found(self, sync_id: str, ctx: CallContext) -> None:
        """The folder is back: clear the sync's source problem."""
        sync = self.get_sync(sync_id)
        try:
            self._check_source(sync, ctx)
        except FailedPrecondition:
            return
        self._save(sync)

    def _check_source(self, sync: SecretSync, ctx: CallContext) -> None:
        """Refuse jobs on a sync whose folder is gone (FAILED_PRECONDITION naming it)."""
        source = self.sources.locate(sync.project_id, sync.environment, sync.secret_path)
        sync.locate_source(**asdict(source), actor=ctx.actor, request_id=ctx.request_id)

    # --- helpers -------------------------------------------------------------

    def as_of(
        self, sync_id: str, version: int | None = None, moment: datetime | None = None
    ) -> SecretSync:
        """The sync as it was at `version` or at `moment`, rebuilt from its events."""
        require(check_uuid("id", sync_id))
        originator = UUID(sync_id)
        if moment is not None and moment > datetime.now(UTC):
            require([FieldViolation("as_of_time", "must not be in the future")])
        self._check_history(sync_id, originator, moment)
        if moment is not None:
            version = self._version_at(originator, moment)
        try:
            sync = self.repository.get(originator, version=version)
        except AggregateNotFoundError:
            sync = None
        if not isinstance(sync, SecretSync) or sync.deleted:
            raise SecretSyncNotFound(f"secret sync {sync_id} did not exist then").about(
                resource_id=sync_id, field="id"
            )
        if version is not None and sync.version < version:
            require([FieldViolation("as_of_version", f"the sync has {sync.version} versions")])
        return sync

    def _check_history(self, sync_id: str, originator: UUID, moment: datetime | None) -> None:
        """May the caller see this sync's past? Asked of its latest state; a sync of a
        project it may not see is answered as one that never existed."""
        try:
            latest = self.repository.get(originator)
        except AggregateNotFoundError:
            return  # the lookup below says NOT_FOUND
        if isinstance(latest, SecretSync):
            shown = str(originator) if moment is not None else sync_id  # as _version_at does
            missing = SecretSyncNotFound(f"secret sync {shown} did not exist then")
            access.resource(
                access.SYNC, latest.project_id, latest.environment, latest.secret_path, missing
            )

    def _version_at(self, originator: UUID, moment: datetime) -> int:
        """The version of the last event recorded at or before `moment` (0: none)."""
        version = 0
        for stored in self.recorder.select_events(originator):
            event = self.mapper.to_domain_event(stored)
            if event.timestamp > moment:
                break
            version = event.originator_version
        if version == 0:
            raise SecretSyncNotFound(f"secret sync {originator} did not exist then")
        return version

    def _check_connection(self, project_id: str, connection_id: str, vault_base_url: str) -> None:
        """A sync may only name a live connection of its own project, and a vault that
        connection may reach (a managed identity's allowance)."""
        try:
            connection = self.connections.get(connection_id)
        except NotFound:
            connection = None
        if connection is None or connection.project_id != project_id:
            raise FailedPrecondition(
                f"connection_id: connection {connection_id} does not exist in project "
                f"{project_id}",
                "CONNECTION_NOT_FOUND",
            ).about(resource_id=connection_id, field="connection_id")
        self.connections.check_reach(connection, vault_base_url)

    # --- job leases: the worker's bookkeeping, apart from the sync -----------------

    def renew_lease(
        self,
        sync_id: str,
        kind: JobKind,
        job_id: str,
        worker: str,
        now: datetime,
        lease: timedelta,
    ) -> None:
        """The worker running a job is alive: its lease runs `lease` from now. Refused
        (FAILED_PRECONDITION, NOT_FOUND) once it no longer holds the job, or the sync
        is gone. Recorded on the run's JobLease: the sync does not change."""
        sync = self.get_sync(sync_id)
        sync.ensure_holder(kind, job_id, worker)
        held = self._lease(job_id, worker)
        if held is None:
            held = JobLease.first_renewal(str(sync.id), kind.value, job_id, worker, now, lease)
        else:
            held.renew(now, lease)
        self.save(held)

    def renewed_leases(self, sync: SecretSync) -> dict[str, str]:
        """Until when the holders of the sync's running jobs have renewed their leases,
        by job id (for `SecretSync.start_job`)."""
        renewed: dict[str, str] = {}
        for job_id, worker in sync.lease_keepers():
            held = self._lease(job_id, worker)
            if held is not None:
                renewed[job_id] = held.lease_until
        return renewed

    def _lease(self, job_id: str, worker: str) -> JobLease | None:
        try:
            held: object = self.repository.get(lease_id(job_id, worker))
        except AggregateNotFoundError:
            return None
        return held if isinstance(held, JobLease) else None

    def get_sync(self, sync_id: str) -> SecretSync:
        """The sync as the event store has it (not the view)."""
        require(check_uuid("id", sync_id))
        try:
            sync = self.repository.get(UUID(sync_id))
        except AggregateNotFoundError:
            raise _missing(sync_id) from None
        if not isinstance(sync, SecretSync):
            raise _missing(sync_id)
        sync.ensure_live()
        missing = _missing(sync_id)
        access.resource(access.SYNC, sync.project_id, sync.environment, sync.secret_path, missing)
        return sync

    def _load(self, sync_id: str, etag: str = "") -> SecretSync:
        sync = self.get_sync(sync_id)
        if etag and etag != sync.etag:
            raise EtagMismatch(
                f"secret sync {sync_id} changed since it was read (etag {echo(etag)} is stale)"
            ).about(resource_id=sync_id, field="etag")
        return sync

    def _claim(self, project_id: str, name: str) -> NameClaim:
        scope = sync_names(project_id)
        try:
            claim = self.repository.get(NameClaim.create_id(scope, name))
        except AggregateNotFoundError:
            return NameClaim(scope=scope, name=name)
        assert isinstance(claim, NameClaim)
        return claim

    def _made_by(self, sync_id: str, ctx: CallContext) -> Written | None:
        """The sync `ctx`'s caller created with `ctx`'s request id, if `sync_id` is one:
        a retry of a create that committed before its process died gets the sync,
        not ALREADY_EXISTS."""
        if not sync_id or not ctx.request_id:
            return None
        created = next(iter(self.events.get(UUID(sync_id), lte=1)), None)
        if created is None or (created.actor, created.request_id) != (ctx.actor, ctx.request_id):
            return None
        # Position 0: no wait for the view, which holds it since before the crash (or
        # will in a moment; the log's end may be an event it never tracks).
        return Written(self.repository.get(UUID(sync_id)), 0)

    @staticmethod
    def _take(claim: NameClaim, sync: SecretSync) -> None:
        try:
            claim.claim(str(sync.id))
        except NameTaken:
            raise NameTaken(
                f"the name {sync.name!r} is taken in project {sync.project_id}"
            ).about("secret_sync", claim.name, "name") from None

    def _save(self, *aggregates: Any) -> int:
        try:
            recordings = self.save(*aggregates)
        except IntegrityError:
            raise ConcurrentChange(
                "another call changed this secret sync at the same moment; read it again"
            ) from None
        # The position the view will reach: that of the last sync event (the
        # projection is not fed name claims).
        return max(
            (r.notification.id for r in recordings if isinstance(r.domain_event, SecretSync.Event)),
            default=0,
        )


RETRY_ACTOR = "retry-policy"  # who requests a failed job's retry (the audit shows it)


def new_job_id() -> str:
    return str(uuid.uuid4())


def _request_id(ctx: CallContext) -> list[FieldViolation]:
    return check_request_id(ctx.request_id)


def _field_of(violation: FieldViolation) -> str:
    """Map a violation's API path back to the settings field it is about."""
    return {
        "destination_config.vault_base_url": "vault_base_url",
        "sync_options.initial_sync_behavior": "initial_sync_behavior",
        "sync_options.key_schema": "key_schema",
        "sync_options.refresh_interval_seconds": "refresh_interval_seconds",
    }.get(violation.field, violation.field)


def _missing(sync_id: str) -> SecretSyncNotFound:
    return SecretSyncNotFound(f"secret sync {sync_id} not found").about(
        resource_id=sync_id.lower(), field="id"
    )
