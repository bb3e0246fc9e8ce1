"""The SecretSync aggregate: every lifecycle change of a sync is one of its events.

Events carry who acted (`actor`) and the request id; never a secret value. All
attribute values are JSON-native (times as ISO-8601 strings). Each event's `apply`
changes only settings, `source`, `jobs` and `deleted` directly, and the managed keys
through `apply_managed_changes`: the read model (domain/sync_record.py) applies the
same events to its smaller record, which keeps no managed keys.

A running job's lease renewals are not events of the sync (domain/job_lease.py):
they change nothing a user sees. `LeaseRenewed` is kept only so that logs written
before that change still replay.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any, Protocol
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
# Settings added after syncs were recorded, and what their earlier events mean.
LATER_SETTINGS: dict[str, Any] = {"refresh_interval_seconds": 0}
JOB_KINDS = tuple(kind.value for kind in JobKind)  # iterating the enum itself is slow


def etag_for(sync_id: UUID | str, settings: Mapping[str, Any]) -> str:
    """An opaque token naming the settings of one sync, as a user reads and sets them.

    Derived from the settings themselves, not from the version: jobs starting and
    finishing, a lease kept alive, a source folder found again do not change it, so an
    update carrying the etag a user last read succeeds unless a setting changed since.
    """
    # A later setting at its default is left out: the etags of syncs that never set it
    # stay what they were before it existed.
    values = [
        str(sync_id).lower(),
        [
            setting(settings, field)
            for field in SETTINGS_FIELDS
            if field not in LATER_SETTINGS or setting(settings, field) != LATER_SETTINGS[field]
        ],
    ]
    text = json.dumps(values, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


RETRY = "retry"  # the reason of a sync requested by the retry policy
OPEN_STATUSES = (JobStatus.PENDING.value, JobStatus.RUNNING.value)


def setting(settings: Mapping[str, Any], field: str) -> Any:
    """One setting's value; a later setting missing from older events has its default."""
    return settings[field] if field in settings else LATER_SETTINGS[field]


NO_SOURCE = {"folder_id": "", "environment_id": "", "environment_name": "", "problem": ""}


def initial_state(settings: Mapping[str, Any], source: Mapping[str, str]) -> dict[str, Any]:
    """What a new sync holds besides its managed keys (shared with the read model)."""
    return {
        **{field: setting(settings, field) for field in SETTINGS_FIELDS},
        "jobs": {kind: empty_job() for kind in JOB_KINDS},
        "source": {**NO_SOURCE, **source, "problem": ""},
        "deleted": False,
    }


def lease_holder(
    jobs: Mapping[str, Mapping[str, Any]], now: datetime, renewed: Mapping[str, str] | None = None
) -> tuple[str, str] | None:
    """The (kind, job id) a worker holds with an unexpired lease, if any.

    A lease runs until the JobStarted's `lease_until`, or a later renewal: `renewed`
    maps a running job's id to the end of its holder's renewed lease.
    """
    for kind, job in jobs.items():
        running = job["running_job_id"]
        ends = [t for t in (job["lease_until"], (renewed or {}).get(running)) if t]
        if running and ends and max(map(datetime.fromisoformat, ends)) > now:
            return kind, running
    return None


def job_retry(jobs: Mapping[str, Mapping[str, Any]], kind: JobKind) -> tuple[int, str | None]:
    """(attempt, ISO time) of a job's scheduled retry; (0, None) when none is (shared
    with the read model)."""
    job = jobs[kind.value]
    return int(job.get("retry_attempt", 0)), job.get("retry_at")


def retry_due(jobs: Mapping[str, Mapping[str, Any]], kind: JobKind, now: datetime) -> bool:
    """A failed job's retry is due and no job of that kind is pending or running."""
    _, at = job_retry(jobs, kind)
    if not at or jobs[kind.value]["status"] in OPEN_STATUSES:
        return False
    return datetime.fromisoformat(at) <= now


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
        # A transient failure's retry (domain/retry_policy.py): which attempt comes
        # next and when (ISO time); 0 and None when none is scheduled.
        "retry_attempt": 0,
        "retry_at": None,
    }


class SyncState(Protocol):
    """What a sync event's `apply` changes: the aggregate, or the read model's record
    (domain/sync_record.py). Settings fields are set by name."""

    jobs: dict[str, dict[str, Any]]
    source: dict[str, str]
    deleted: bool

    def apply_managed_changes(self, changes: Mapping[str, Any]) -> None: ...


class SecretSync(Aggregate):
    """One sync from a KMS folder to one Azure Key Vault."""

    # The settings (SyncSettings' fields), set by name from the Created and Updated events.
    name: str
    description: str
    is_enabled: bool
    connection_id: str
    environment: str
    secret_path: str
    vault_base_url: str
    initial_sync_behavior: str | None
    key_schema: str
    disable_secret_deletion: bool
    refresh_interval_seconds: int = 0  # for a sync whose events predate the setting
    # Who the sync acts for (domain/sync_owner.py): set by Created and Updated.
    owner: dict[str, Any] | None = None

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
        state = initial_state(settings, source)
        for field in SETTINGS_FIELDS:
            setattr(self, field, state[field])
        self.jobs: dict[str, dict[str, Any]] = state["jobs"]
        self.source: dict[str, str] = state["source"]
        self.deleted: bool = state["deleted"]
        # What this sync last wrote, by lowercase vault name: [name, key, fingerprint,
        # updated]. Fingerprints are keyed digests, never values.
        self.managed: dict[str, list[Any]] = {}

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
        return etag_for(self.id, vars(self))

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
            raise SecretSyncNotFound(f"secret sync {self.id} not found").about(
                resource_id=str(self.id), field="id"
            )

    # --- changing settings ---------------------------------------------------

    class Updated(Event):
        changes: dict[str, list[Any]]  # field -> [old, new]
        owner: dict[str, Any] | None = None  # who changed it owns it from now on

        def apply(self, sync: SyncState) -> None:
            for field, (_, new) in self.changes.items():
                setattr(sync, field, new)
            if self.owner is not None and isinstance(sync, SecretSync):
                sync.owner = self.owner  # the read model's record keeps no owner

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

        def apply(self, sync: SyncState) -> None:
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

        def apply(self, sync: SyncState) -> None:
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

        def apply(self, sync: SyncState) -> None:
            job = sync.jobs[self.kind]
            job["job_id"] = self.job_id
            job["status"] = JobStatus.PENDING.value
            job["retry_at"] = None  # requested now: the retry is this job, or not needed
            if getattr(self, "reason", "") != RETRY:
                job["retry_attempt"] = 0  # something changed or a user asked: start over

    class SyncRequested(JobRequested):
        reason: str  # "created", "manual", "auto", "refresh" (drift repair) or "retry"

    class ImportRequested(JobRequested):
        import_behavior: str

        def apply(self, sync: SyncState) -> None:
            super().apply(sync)
            sync.jobs[self.kind]["import_behavior"] = self.import_behavior

    class RemoveRequested(JobRequested):
        then_delete: bool

        def apply(self, sync: SyncState) -> None:
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

    def job_retry(self, kind: JobKind) -> tuple[int, str | None]:
        return job_retry(self.jobs, kind)

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

        def apply(self, sync: SyncState) -> None:
            job = sync.jobs[self.kind]
            job["running_job_id"] = self.job_id
            job["worker"] = self.worker
            job["lease_until"] = self.lease_until
            job["source_position"] = getattr(self, "source_position", 0)  # older events: 0
            if job["job_id"] == self.job_id:
                job["status"] = JobStatus.RUNNING.value

    def retry_due(self, kind: JobKind, now: datetime) -> bool:
        return retry_due(self.jobs, kind, now)

    def synced_since(self, source_position: int) -> bool:
        """True if a sync job started when the source log had reached `source_position`:
        it read the source after that change, so the change needs no further sync."""
        return int(self.job(JobKind.SYNC).get("source_position", 0)) >= source_position

    def running_job(
        self, now: datetime, renewed: Mapping[str, str] | None = None
    ) -> tuple[str, str] | None:
        """The (kind, job id) a worker holds with an unexpired lease, if any; `renewed`:
        see `lease_holder`."""
        return lease_holder(self.jobs, now, renewed)

    def lease_keepers(self) -> list[tuple[str, str]]:
        """(job id, worker) of each running job: whose lease renewals count now."""
        return [
            (job["running_job_id"], job["worker"])
            for job in self.jobs.values()
            if job["running_job_id"]
        ]

    def start_job(
        self,
        kind: JobKind,
        job_id: str,
        worker: str,
        now: datetime,
        lease: timedelta,
        actor: str = "worker",
        source_position: int = 0,
        renewed: Mapping[str, str] | None = None,
    ) -> None:
        """Claim a pending job, or take over one whose worker's lease ran out.

        `source_position`: how far the source's log had got at the claim; the job
        reads the source after it, so it sees every change up to there. `renewed`:
        the running jobs' renewed leases (`lease_holder`), from their JobLease.

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
        if self.running_job(now, renewed) is not None:
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
        """Recorded by versions before JobLease (domain/job_lease.py); replayed only."""

        kind: str
        job_id: str
        lease_until: str

        def apply(self, sync: SyncState) -> None:
            sync.jobs[self.kind]["lease_until"] = self.lease_until

    def ensure_holder(self, kind: JobKind, job_id: str, worker: str | None) -> None:
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
        retry_attempt: int  # the retry scheduled by this outcome (0: none; older events lack it)
        retry_at: str  # when it runs (ISO), "" when none

        def finish(self, sync: SyncState, status: JobStatus) -> dict[str, Any]:
            sync.apply_managed_changes(self.managed_changes)
            job = sync.jobs[self.kind]
            if job["running_job_id"] == self.job_id:
                job["running_job_id"] = ""
                job["worker"] = ""
                job["lease_until"] = None
            job["message"] = self.message
            if job["job_id"] == self.job_id:
                job["status"] = status.value
                job["retry_attempt"] = getattr(self, "retry_attempt", 0)
                job["retry_at"] = getattr(self, "retry_at", "") or None
            return job

    class JobSucceeded(JobFinished):
        def apply(self, sync: SyncState) -> None:
            job = self.finish(sync, JobStatus.SUCCEEDED)
            job["succeeded_at"] = self.timestamp.isoformat()

    class JobFailed(JobFinished):
        def apply(self, sync: SyncState) -> None:
            job = self.finish(sync, JobStatus.FAILED)
            if self.kind == JobKind.REMOVE.value and job["job_id"] == self.job_id:
                job["then_delete"] = False  # a failed removal keeps the sync

    def apply_managed_changes(self, changes: Mapping[str, Any]) -> None:
        """What a finished job wrote (entry) or removed (None), by lowercase name."""
        for lower, entry in changes.items():
            if entry is None:
                self.managed.pop(lower, None)
            else:
                self.managed[lower] = list(entry)

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
        retry: tuple[int, datetime] | None = None,
    ) -> None:
        self.ensure_live()
        self.ensure_holder(kind, job_id, worker)
        self.trigger_event(
            event_class,
            kind=kind.value,
            job_id=job_id,
            message=message[:MAX_JOB_MESSAGE],
            counts=dict(counts),
            failures=dict(failures or {}),
            managed_changes=dict(managed_changes or {}),
            retry_attempt=retry[0] if retry else 0,
            retry_at=retry[1].isoformat() if retry else "",
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
        retry: tuple[int, datetime] | None = None,
    ) -> None:
        self._finish(
            self.JobSucceeded, kind, job_id, message, counts, actor, failures, managed_changes,
            worker, retry,
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
        retry: tuple[int, datetime] | None = None,
    ) -> None:
        """`retry`: (attempt, when) of the retry this failure schedules, if any."""
        self._finish(
            self.JobFailed, kind, job_id, message, counts, actor, failures, managed_changes,
            worker, retry,
        )

    # --- deleting ------------------------------------------------------------

    class Deleted(Event):
        def apply(self, sync: SyncState) -> None:
            sync.deleted = True

    def delete(self, actor: str, request_id: str) -> None:
        self.ensure_live()
        self.trigger_event(self.Deleted, actor=actor, request_id=request_id)
