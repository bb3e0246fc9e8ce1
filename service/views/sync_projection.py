"""The projection that keeps the secret_syncs view: it applies each sync event
to the sync's stored state and writes the result with the tracking position."""

from __future__ import annotations

from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import ApplicationRecorder, Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

from adapters.sync_view import SecretSyncView, SyncRow
from domain.options import JobStatus
from domain.secret_sync import SecretSync
from domain.snapshot import decode, encode
from service.views.progress import Progress
from service.views.read_cache import ReadCache


def sync_event_topics() -> tuple[str, ...]:
    """Topics of every SecretSync event: the projection is fed only these."""
    return tuple(
        get_topic(cls)
        for cls in vars(SecretSync).values()
        if isinstance(cls, type) and issubclass(cls, SecretSync.Event)
    )


SYNC_EVENT_TOPICS = sync_event_topics()
OPEN = (JobStatus.PENDING.value, JobStatus.RUNNING.value)  # a job the worker must look at


def latest_sync_event(recorder: ApplicationRecorder, after: int = 0) -> int:
    """Position of the newest SecretSync event after `after` (or `after` if none)."""
    while True:
        batch = recorder.select_notifications(
            start=after, limit=1000, topics=SYNC_EVENT_TOPICS, inclusive_of_start=False
        )
        if not batch:
            return after
        after = batch[-1].id


class SecretSyncProjection(Projection[SecretSyncView]):
    name = "secret_syncs_view"
    topics = SYNC_EVENT_TOPICS

    def __init__(self, view: SecretSyncView) -> None:
        super().__init__(view)
        self.progress = Progress()
        self.read_cache = ReadCache()

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Other events are not delivered (see `topics`); if one is, it only moves on."""
        self.view.insert_tracking(tracking)
        self.progress.advance(tracking.notification_id)

    @process_event.register
    def sync_changed(self, domain_event: SecretSync.Event, tracking: Tracking) -> None:
        sync_id = str(domain_event.originator_id)
        if isinstance(domain_event, SecretSync.Created):
            sync = domain_event.mutate(None)
        else:
            row = self.view.get_row(sync_id)
            if row is None:  # already gone: nothing to apply the event to
                self.view.insert_tracking(tracking)
                self.progress.advance(tracking.notification_id)
                return
            sync = domain_event.mutate(decode(row.id, row.version, row.state))
        assert isinstance(sync, SecretSync)
        if sync.deleted:
            self.view.delete_row(sync_id, tracking)
        else:
            self.view.save_row(to_row(sync), tracking)
        self.read_cache.changed(sync_id)  # before writers waiting on progress go on
        self.progress.advance(tracking.notification_id, sync_id)


def to_row(sync: SecretSync) -> SyncRow:
    return SyncRow(
        id=str(sync.id),
        project_id=sync.project_id,
        name=sync.name,
        connection_id=sync.connection_id,
        environment=sync.environment,
        sync_status=sync.jobs["sync"]["status"] or "",
        open_jobs=sum(job["status"] in OPEN for job in sync.jobs.values()),
        version=sync.version,
        state=encode(sync),
    )
