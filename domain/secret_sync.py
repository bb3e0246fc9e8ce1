"""The SecretSync aggregate: every lifecycle change of a sync is one of its events.

Events carry who acted (`actor`) and the request id; never a secret value. All
attribute values are JSON-native (times as ISO-8601 strings) so that the read
model can store a snapshot of the aggregate and apply later events to it.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.errors import FailedPrecondition, SecretSyncNotFound
from domain.options import (
    MAX_JOB_MESSAGE,
    ImportBehavior,
    InitialSyncBehavior,
    JobKind,
    JobStatus,
)
from domain.rules import SyncSettings
from domain.sync_owner import SyncOwner

SETTINGS_FIELDS = tuple(SyncSettings.__dataclass_fields__)


def etag_for(sync_id: UUID, version: int) -> str:
    """An opaque token naming one version of one sync."""
    digest = hashlib.sha256(f"{sync_id}:{version}".encode()).hexdigest()[:20]
    return digest


NO_SOURCE = {"folder_id": "", "environment_id": "", "environment_name": "", "problem": ""}


def empty_job() -> dict[str, Any]:
    return {
        "status": None,  # JobStatus value of the latest requested job
        "job_id": "",  # the latest requested job
        "message": "",
        "succeeded_at": None,
        "running_job_id": "",  # the job a worker holds now, if any
        "worker": "",
        "lease_until": None,
        # The source log's position when a job of this kind last started: it saw
        # every source change up to there.
        "source_position": 0,
        "import_behavior": None,
        "then_delete": False,
    }


class SecretSync(Aggregate):
    """One sync from a KMS folder to one Azure Key Vault."""

    class Event(Aggregate.Event):
        actor: str
        request_id: str

    class Created(Event, Aggregate.Created):
        project_id: str
        settings: dict[str, Any]
        source: dict[str, str]  # the folder read: folder_id, environment_id and _name
        # Who the sync acts for, and their grants (domain/sync_owner.py); None in events
        # recorded before owners were (and with authentication off).
        owner: dict[str, Any] | None = None

    def __init__(
        self,
        project_id: str,
        settings: dict[str, Any],
        source: dict[str, str],
        owner: dict[str, Any] | None = None,
    ) -> None:
        self.project_id = project_id
        self.owner = owner
        for field in SETTINGS_FIELDS:
            setattr(self, field, settings[field])
        self.jobs = {kind.value: empty_job() for kind in JobKind}
        self.source = {**NO_SOURCE, **source, "problem": ""}
        # What this sync last wrote, by lowercase vault name: [name, key, fingerprint,
        # updated]. Fingerprints are keyed digests, never values.
        self.managed: dict[str, list[Any]] = {}
        self.deleted = False

    @classmethod
    def create(
        cls,
        project_id: str,
        settings: SyncSettings,
        actor: str,
        request_id: str,
        source: dict[str, str] | None = None,
        owner: SyncOwner | None = None,
    ) -> SecretSync:
        values = asdict(settings)
        values["initial_sync_behavior"] = settings.initial_sync_behavior.value  # type: ignore[union-attr]
        return cls._create(
            cls.Created,
            project_id=project_id,
            settings=values,
            source=dict(source or NO_SOURCE),
            owner=owner.to_dict() if owner is not None else None,
            actor=actor,
            request_id=request_id,
        )

    # --- reading -----------------------------------------------------------

    @property
    def sync_owner(self) -> SyncOwner | None:
        """Whose reading rights bound what the sync pushes (None: not narrowed)."""
        return SyncOwner.from_dict(getattr(self, "owner", None))

    @property
    def etag(self) -> str:
        return etag_for(self.id, self.version)

    def settings(self) -> SyncSettings:
        values = {field: getattr(self, field) for field in SETTINGS_FIELDS}
        values["initial_sync_behavior"] = InitialSyncBehavior(values["initial_sync_behavior"])
        return SyncSettings(**values)

    @property
    def first_run(self) -> bool:
        """True until a sync job has succeeded once (initial sync behaviour applies)."""
        return self.jobs[JobKind.SYNC.value]["succeeded_at"] is None

    def job(self, kind: JobKind) -> dict[str, Any]:
        return self.jobs[kind.value]

    def ensure_live(self) -> None:
        if self.deleted:
            raise SecretSyncNotFound(f"secret sync {self.id} not found")

    # --- changing settings ---------------------------------------------------

    class Updated(Event):
        changes: dict[str, list[Any]]  # field -> [old, new]
        owner: dict[str, Any] | None = None  # who changed it owns it from now on

        def apply(self, sync: SecretSync) -> None:
            for field, (_, new) in self.changes.items():
                setattr(sync, field, new)
            if self.owner is not None:
                sync.owner = self.owner

    def update(
        self, new: SyncSettings, actor: str, request_id: str, owner: SyncOwner | None = None
    ) -> dict[str, list[Any]]:
        """Record what differs from `new`; nothing when nothing differs. The caller who
        changes a sync becomes its owner (domain/sync_owner.py)."""
        self.ensure_live()
        wanted = asdict(new)
        if new.initial_sync_behavior is not None:
            wanted["initial_sync_behavior"] = new.initial_sync_behavior.value
        changes = {
            field: [getattr(self, field), wanted[field]]
            for field in SETTINGS_FIELDS
            if getattr(self, field) != wanted[field]
        }
        if changes:
            self.trigger_event(
                self.Updated,
                changes=changes,
                owner=owner.to_dict() if owner is not None else None,
                actor=actor,
                request_id=request_id,
            )
        return changes

    # --- the source folder -----------------------------------------------------

    class SourceLocated(Event):
        folder_id: str
        environment_id: str
        environment_name: str

        def apply(self, sync: SecretSync) -> None:
            sync.source = {
                "folder_id": self.folder_id,
                "environment_id": self.environment_id,
                "environment_name": self.environment_name,
                "problem": "",
            }

    def locate_source(
        self,
        folder_id: str,
        environment_id: str,
        environment_name: str,
        actor: str,
        request_id: str,
    ) -> None:
        """Record the folder the sync reads (when it is new, or found again)."""
        self.ensure_live()
        located = {
            "folder_id": folder_id,
            "environment_id": environment_id,
            "environment_name": environment_name,
            "problem": "",
        }
        if self.source != located:
            self.trigger_event(
                self.SourceLocated,
                folder_id=folder_id,
                environment_id=environment_id,
                environment_name=environment_name,
                actor=actor,
                request_id=request_id,
            )

    class SourceLost(Event):
        problem: str

        def apply(self, sync: SecretSync) -> None:
            sync.source = {**sync.source, "problem": self.problem}

    def lose_source(self, problem: str, actor: str, request_id: str) -> None:
        """Record why the source cannot be read (e.g. its folder was deleted)."""
        self.ensure_live()
        if self.source["problem"] != problem:
            self.trigger_event(self.SourceLost, problem=problem, actor=actor, request_id=request_id)

    # --- requesting jobs -----------------------------------------------------

    class JobRequested(Event):
        kind: str
        job_id: str

        def apply(self, sync: SecretSync) -> None:
            job = sync.jobs[self.kind]
            job["job_id"] = self.job_id
            job["status"] = JobStatus.PENDING.value

    class SyncRequested(JobRequested):
        reason: str  # "created", "manual" or "auto"

    class ImportRequested(JobRequested):
        import_behavior: str

        def apply(self, sync: SecretSync) -> None:
            super().apply(sync)
            sync.jobs[self.kind]["import_behavior"] = self.import_behavior

    class RemoveRequested(JobRequested):
        then_delete: bool

        def apply(self, sync: SecretSync) -> None:
            super().apply(sync)
            sync.jobs[self.kind]["then_delete"] = self.then_delete

    def _request(
        self,
        event_class: type[JobRequested],
        kind: JobKind,
        job_id: str,
        actor: str,
        request_id: str,
        **details: Any,
    ) -> None:
        self.ensure_live()
        if self.job(JobKind.REMOVE)["then_delete"]:
            raise FailedPrecondition(
                f"secret sync {self.id} is being deleted once its secrets are removed",
                reason="SYNC_BEING_DELETED",
            )
        self.trigger_event(
            event_class,
            kind=kind.value,
            job_id=job_id,
            actor=actor,
            request_id=request_id,
            **details,
        )

    def request_sync(self, job_id: str, reason: str, actor: str, request_id: str) -> None:
        self._request(self.SyncRequested, JobKind.SYNC, job_id, actor, request_id, reason=reason)

    def request_import(
        self, job_id: str, behavior: ImportBehavior, actor: str, request_id: str
    ) -> None:
        self._request(
            self.ImportRequested,
            JobKind.IMPORT,
            job_id,
            actor,
            request_id,
            import_behavior=behavior.value,
        )

    def request_remove(
        self, job_id: str, then_delete: bool, actor: str, request_id: str
    ) -> None:
        self._request(
            self.RemoveRequested, JobKind.REMOVE, job_id, actor, request_id, then_delete=then_delete
        )

    # --- running jobs (the worker's side) ------------------------------------

    class JobStarted(Event):
        kind: str
        job_id: str
        worker: str
        lease_until: str
        source_position: int

        def apply(self, sync: SecretSync) -> None:
            job = sync.jobs[self.kind]
            job["running_job_id"] = self.job_id
            job["worker"] = self.worker
            job["lease_until"] = self.lease_until
            job["source_position"] = getattr(self, "source_position", 0)  # older events: 0
            if job["job_id"] == self.job_id:
                job["status"] = JobStatus.RUNNING.value

    def synced_since(self, source_position: int) -> bool:
        """True if a sync job started when the source log had reached `source_position`:
        it read the source after that change, so the change needs no further sync."""
        return int(self.job(JobKind.SYNC).get("source_position", 0)) >= source_position

    def running_job(self, now: datetime) -> tuple[str, str] | None:
        """The (kind, job id) a worker holds with an unexpired lease, if any."""
        for kind, job in self.jobs.items():
            lease = job["lease_until"]
            if job["running_job_id"] and lease and datetime.fromisoformat(lease) > now:
                return kind, job["running_job_id"]
        return None

    def start_job(
        self,
        kind: JobKind,
        job_id: str,
        worker: str,
        now: datetime,
        lease: timedelta,
        actor: str = "worker",
        source_position: int = 0,
    ) -> None:
        """Claim a pending job, or take over one whose worker's lease ran out.

        `source_position`: how far the source's log had got at the claim; the job
        reads the source after it, so it sees every change up to there.

        Refused while any job of this sync holds a live lease. A takeover is a new
        JobStarted naming the new worker, so the log shows it.
        """
        self.ensure_live()
        job = self.job(kind)
        abandoned = (
            job["status"] == JobStatus.RUNNING.value
            and job["running_job_id"] == job_id == job["job_id"]
        )
        if not abandoned and (job["job_id"] != job_id or job["status"] != JobStatus.PENDING.value):
            raise FailedPrecondition(f"job {job_id} is not pending", reason="JOB_NOT_PENDING")
        if self.running_job(now) is not None:
            raise FailedPrecondition(
                f"secret sync {self.id} already has a running job", reason="JOB_RUNNING"
            )
        self.trigger_event(
            self.JobStarted,
            kind=kind.value,
            job_id=job_id,
            worker=worker,
            lease_until=(now + lease).isoformat(),
            source_position=source_position,
            actor=actor,
            request_id=job_id,
        )

    class LeaseRenewed(Event):
        kind: str
        job_id: str
        lease_until: str

        def apply(self, sync: SecretSync) -> None:
            sync.jobs[self.kind]["lease_until"] = self.lease_until

    def renew_lease(
        self, kind: JobKind, job_id: str, worker: str, now: datetime, lease: timedelta
    ) -> None:
        """The worker running a job says it is alive: its lease runs `lease` from now."""
        self.ensure_live()
        self._ensure_holder(kind, job_id, worker)
        self.trigger_event(
            self.LeaseRenewed,
            kind=kind.value,
            job_id=job_id,
            lease_until=(now + lease).isoformat(),
            actor="worker",
            request_id=job_id,
        )

    def _ensure_holder(self, kind: JobKind, job_id: str, worker: str | None) -> None:
        """Only the worker that holds a job may renew or finish it (not one taken over)."""
        job = self.job(kind)
        if job["running_job_id"] != job_id or (worker is not None and job["worker"] != worker):
            raise FailedPrecondition(
                f"job {job_id} is not running on {worker or 'any worker'}",
                reason="JOB_NOT_RUNNING",
            )

    class JobFinished(Event):
        kind: str
        job_id: str
        message: str
        counts: dict[str, int]
        failures: dict[str, str]  # key or vault name -> Azure error code or reason
        managed_changes: dict[str, Any]  # lowercase name -> entry, or None when removed

        def finish(self, sync: SecretSync, status: JobStatus) -> dict[str, Any]:
            for lower, entry in self.managed_changes.items():
                if entry is None:
                    sync.managed.pop(lower, None)
                else:
                    sync.managed[lower] = list(entry)
            job = sync.jobs[self.kind]
            if job["running_job_id"] == self.job_id:
                job["running_job_id"] = ""
                job["worker"] = ""
                job["lease_until"] = None
            job["message"] = self.message
            if job["job_id"] == self.job_id:
                job["status"] = status.value
            return job

    class JobSucceeded(JobFinished):
        def apply(self, sync: SecretSync) -> None:
            job = self.finish(sync, JobStatus.SUCCEEDED)
            job["succeeded_at"] = self.timestamp.isoformat()

    class JobFailed(JobFinished):
        def apply(self, sync: SecretSync) -> None:
            job = self.finish(sync, JobStatus.FAILED)
            if self.kind == JobKind.REMOVE.value and job["job_id"] == self.job_id:
                job["then_delete"] = False  # a failed removal keeps the sync

    def _finish(
        self,
        event_class: type[JobFinished],
        kind: JobKind,
        job_id: str,
        message: str,
        counts: dict[str, int],
        actor: str,
        failures: dict[str, str] | None,
        managed_changes: dict[str, Any] | None,
        worker: str | None,
    ) -> None:
        self.ensure_live()
        self._ensure_holder(kind, job_id, worker)
        self.trigger_event(
            event_class,
            kind=kind.value,
            job_id=job_id,
            message=message[:MAX_JOB_MESSAGE],
            counts=dict(counts),
            failures=dict(failures or {}),
            managed_changes=dict(managed_changes or {}),
            actor=actor,
            request_id=job_id,
        )

    def succeed_job(
        self,
        kind: JobKind,
        job_id: str,
        message: str,
        counts: dict[str, int],
        actor: str = "worker",
        failures: dict[str, str] | None = None,
        managed_changes: dict[str, Any] | None = None,
        worker: str | None = None,
    ) -> None:
        self._finish(
            self.JobSucceeded, kind, job_id, message, counts, actor, failures, managed_changes,
            worker,
        )

    def fail_job(
        self,
        kind: JobKind,
        job_id: str,
        message: str,
        counts: dict[str, int],
        actor: str = "worker",
        failures: dict[str, str] | None = None,
        managed_changes: dict[str, Any] | None = None,
        worker: str | None = None,
    ) -> None:
        self._finish(
            self.JobFailed, kind, job_id, message, counts, actor, failures, managed_changes,
            worker,
        )

    # --- deleting ------------------------------------------------------------

    class Deleted(Event):
        def apply(self, sync: SecretSync) -> None:
            sync.deleted = True

    def delete(self, actor: str, request_id: str) -> None:
        self.ensure_live()
        self.trigger_event(self.Deleted, actor=actor, request_id=request_id)
