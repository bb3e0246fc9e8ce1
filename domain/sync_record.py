"""A secret sync as its readers see it: the record the secret_syncs view keeps.

What the API shows (settings, source, job outcomes, times, version, etag) and what
the worker needs to pick a job (job states and leases); never the keys a sync
manages (up to 10,000 entries), which only a running job needs, and it loads the
aggregate. `apply_event` is the view's one projection step: the live projection and
the rebuild both run it, and it applies each event with the event's own `apply`,
the same rule the aggregate uses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.job_lease import JobLease
from domain.options import JobKind
from domain.secret_sync import SETTINGS_FIELDS, SecretSync, etag_for, initial_state, lease_holder

# Stored in the record's JSON; id and version are the view's own columns.
_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)
_STORED = ("project_id", "created_at", "updated_at", *SETTINGS_FIELDS, "source", "jobs")


@dataclass
class SyncRecord:
    id: str
    version: int
    project_id: str
    created_at: str  # ISO-8601
    updated_at: str  # the time of the latest event of the sync (not of its leases)
    name: str
    description: str
    is_enabled: bool
    connection_id: str
    environment: str
    secret_path: str
    vault_base_url: str
    initial_sync_behavior: str
    key_schema: str
    disable_secret_deletion: bool
    source: dict[str, str]
    jobs: dict[str, dict[str, Any]]
    deleted: bool = field(default=False)
    refresh_interval_seconds: int = 0  # drift repair (a record stored before it: off)

    @classmethod
    def created(cls, event: SecretSync.Created) -> SyncRecord:
        when = event.timestamp.isoformat()
        return cls(
            id=str(event.originator_id),
            version=event.originator_version,
            project_id=event.project_id,
            created_at=when,
            updated_at=when,
            **initial_state(event.settings, event.source),
        )

    @classmethod
    def of(cls, sync: SecretSync) -> SyncRecord:
        """The record of an aggregate (a sync as it was at some version)."""
        return cls(
            id=str(sync.id),
            version=sync.version,
            project_id=sync.project_id,
            created_at=sync.created_on.isoformat(),
            updated_at=sync.modified_on.isoformat(),
            **{name: getattr(sync, name) for name in SETTINGS_FIELDS},
            source=dict(sync.source),
            jobs={kind: dict(job) for kind, job in sync.jobs.items()},
            deleted=sync.deleted,
        )

    # --- reading -----------------------------------------------------------------

    @property
    def etag(self) -> str:
        return etag_for(self.id, vars(self))

    def job(self, kind: JobKind) -> dict[str, Any]:
        return self.jobs[kind.value]

    def running_job(self, now: datetime) -> tuple[str, str] | None:
        """The (kind, job id) a worker holds with an unexpired lease, if any."""
        return lease_holder(self.jobs, now)

    # --- what events change ----------------------------------------------------------

    def apply_managed_changes(self, changes: Mapping[str, Any]) -> None:
        """Readers never see the managed keys: the record keeps none."""

    def lease_renewed(self, event: JobLease.Event) -> None:
        """The holder of a running job renewed its lease (a taken-over run's no longer
        counts). Not a change a user sees: version and time stay."""
        job = self.jobs[event.kind]
        if (job["running_job_id"], job["worker"]) == (event.job_id, event.worker):
            job["lease_until"] = event.lease_until

    # --- stored form -------------------------------------------------------------------

    def to_json(self) -> str:
        return _ENCODER.encode({name: getattr(self, name) for name in _STORED})

    @classmethod
    def from_json(cls, sync_id: str, version: int, text: str) -> SyncRecord:
        return cls(id=sync_id, version=version, **json.loads(text))


def sync_id_of(event: Any) -> str:
    """The sync an event of a sync or of one of its job leases is about."""
    return event.sync_id if isinstance(event, JobLease.Event) else str(event.originator_id)


def apply_event(record: SyncRecord | None, event: Any) -> SyncRecord | None:
    """The record after `event` (None: no such sync). A record whose sync was deleted
    comes back with `deleted` set, for the view to drop its row."""
    if isinstance(event, JobLease.Event):
        if record is not None:
            record.lease_renewed(event)
        return record
    if isinstance(event, SecretSync.Created):
        return SyncRecord.created(event)
    if record is None:
        return None  # deleted already
    event.apply(record)
    record.version = event.originator_version
    record.updated_at = event.timestamp.isoformat()
    return record
