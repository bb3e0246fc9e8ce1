"""Use cases of secret syncs: each loads aggregates, calls one command, saves.

`save` returns the position of the last event written, so that callers can wait
for the read model to include it (read-your-writes).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from domain.errors import (
    ConcurrentChange,
    EtagMismatch,
    FieldViolation,
    NameTaken,
    SecretSyncNotFound,
    require,
)
from domain.name_claim import NameClaim
from domain.options import ImportBehavior
from domain.rules import check_request_id, check_settings, check_uuid
from domain.secret_sync import SecretSync
from service.call_context import CallContext
from service.config import APP_NAME

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

    @property
    def allow_loopback_vaults(self) -> bool:
        return bool(self.env.get("SECRET_SYNC_DEV_MODE"))

    # --- commands ------------------------------------------------------------

    def create(self, project_id: str, settings: Any, ctx: CallContext) -> Written:
        settings, violations = check_settings(
            settings, allow_loopback_vaults=self.allow_loopback_vaults
        )
        require(check_uuid("project_id", project_id) + violations + _request_id(ctx))
        project_id = project_id.lower()
        sync = SecretSync.create(project_id, settings, ctx.actor, ctx.request_id)
        claim = self._claim(project_id, settings.name)
        claim.claim(str(sync.id))
        job_id = ""
        if settings.is_enabled:
            job_id = new_job_id()
            sync.request_sync(job_id, "created", ctx.actor, ctx.request_id)
        try:
            return Written(sync, self._save(sync, claim), job_id)
        except ConcurrentChange:  # another create claimed the name first
            taken = f"the name {settings.name!r} is taken in project {project_id}"
            raise NameTaken(taken) from None

    def update(
        self, sync_id: str, etag: str, fields: dict[str, Any], ctx: CallContext
    ) -> Written:
        """Change the named settings fields; ABORTED if `etag` is given and stale."""
        sync = self._load(sync_id, etag)
        wanted, violations = check_settings(
            replace(sync.settings(), **fields),
            allow_loopback_vaults=self.allow_loopback_vaults,
        )
        require([v for v in violations if _field_of(v) in fields] + _request_id(ctx))
        old_name = sync.name
        changes = sync.update(wanted, ctx.actor, ctx.request_id)
        if not changes:
            return Written(sync, 0)
        job_id = ""
        if sync.is_enabled and RESYNC_ON_CHANGE & changes.keys():
            job_id = new_job_id()
            sync.request_sync(job_id, "updated", ctx.actor, ctx.request_id)
        claims = []
        if sync.name != old_name:
            new_claim = self._claim(sync.project_id, sync.name)
            new_claim.claim(str(sync.id))
            old_claim = self._claim(sync.project_id, old_name)
            old_claim.release(str(sync.id))
            claims = [new_claim, old_claim]
        return Written(sync, self._save(sync, *claims), job_id)

    def delete(
        self, sync_id: str, etag: str, remove_secrets: bool, ctx: CallContext
    ) -> Written:
        """Delete now, or (remove_secrets) request a removal that deletes on success."""
        require(_request_id(ctx))
        sync = self._load(sync_id, etag)
        if remove_secrets:
            job_id = new_job_id()
            sync.request_remove(job_id, True, ctx.actor, ctx.request_id)
            return Written(sync, self._save(sync), job_id)
        sync.delete(ctx.actor, ctx.request_id)
        claim = self._claim(sync.project_id, sync.name)
        claim.release(str(sync.id))
        return Written(sync, self._save(sync, claim))

    def trigger(self, sync_id: str, ctx: CallContext) -> Written:
        require(_request_id(ctx))
        sync = self._load(sync_id)
        job_id = new_job_id()
        sync.request_sync(job_id, "manual", ctx.actor, ctx.request_id)
        return Written(sync, self._save(sync), job_id)

    def import_secrets(
        self, sync_id: str, behavior: ImportBehavior | None, ctx: CallContext
    ) -> Written:
        violations = _request_id(ctx)
        if behavior is None:
            violations.append(
                FieldViolation("import_behavior", "must be prioritize-source or "
                               "prioritize-destination")
            )
        require(violations)
        sync = self._load(sync_id)
        job_id = new_job_id()
        sync.request_import(job_id, behavior, ctx.actor, ctx.request_id)  # type: ignore[arg-type]
        return Written(sync, self._save(sync), job_id)

    def remove_secrets(self, sync_id: str, ctx: CallContext) -> Written:
        require(_request_id(ctx))
        sync = self._load(sync_id)
        job_id = new_job_id()
        sync.request_remove(job_id, False, ctx.actor, ctx.request_id)
        return Written(sync, self._save(sync), job_id)

    # --- helpers -------------------------------------------------------------

    def get_sync(self, sync_id: str) -> SecretSync:
        """The sync as the event store has it (not the view)."""
        require(check_uuid("id", sync_id))
        try:
            sync = self.repository.get(UUID(sync_id))
        except AggregateNotFoundError:
            raise SecretSyncNotFound(f"secret sync {sync_id} not found") from None
        if not isinstance(sync, SecretSync):
            raise SecretSyncNotFound(f"secret sync {sync_id} not found")
        sync.ensure_live()
        return sync

    def _load(self, sync_id: str, etag: str = "") -> SecretSync:
        sync = self.get_sync(sync_id)
        if etag and etag != sync.etag:
            raise EtagMismatch(
                f"secret sync {sync_id} changed since it was read (etag {etag} is stale)"
            )
        return sync

    def _claim(self, project_id: str, name: str) -> NameClaim:
        try:
            claim = self.repository.get(NameClaim.create_id(project_id, name))
        except AggregateNotFoundError:
            return NameClaim(project_id=project_id, name=name)
        assert isinstance(claim, NameClaim)
        return claim

    def _save(self, *aggregates: Any) -> int:
        try:
            recordings = self.save(*aggregates)
        except IntegrityError:
            raise ConcurrentChange(
                "another call changed this secret sync at the same moment; read it again"
            ) from None
        return max((r.notification.id for r in recordings), default=0)


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
    }.get(violation.field, violation.field)
