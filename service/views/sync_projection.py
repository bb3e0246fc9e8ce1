"""The projection that keeps the secret_syncs view: it applies each event of a sync (and
of its jobs' leases) to the sync's record (domain/sync_record.py) and writes the row with
the tracking position. The rebuild (rebuild.py) runs the same `apply_event`."""

from __future__ import annotations

from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import ApplicationRecorder, Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

from adapters.sync_view import SecretSyncView, SyncRow
from domain.job_lease import JobLease
from domain.secret_sync import SecretSync
from domain.sync_record import apply_event, sync_id_of
from service.views.progress import Progress
from service.views.read_cache import ReadCache


def sync_event_topics() -> tuple[str, ...]:
    """Topics of every SecretSync and JobLease event: the projection is fed only these."""
    return tuple(
        get_topic(cls)
        for aggregate in (SecretSync, JobLease)
        for cls in vars(aggregate).values()
        if isinstance(cls, type) and issubclass(cls, aggregate.Event)
    )


SYNC_EVENT_TOPICS = sync_event_topics()


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
        sync_id = self._apply(domain_event, tracking)
        # A change users see: cached answers go, watchers of the sync wake.
        self.read_cache.changed(sync_id)
        self.progress.advance(tracking.notification_id, sync_id)

    @process_event.register
    def lease_renewed(self, domain_event: JobLease.Event, tracking: Tracking) -> None:
        self._apply(domain_event, tracking)
        # Only the worker's view of the lease moved: no answer nor watcher changes.
        self.progress.advance(tracking.notification_id)

    def _apply(self, domain_event: Any, tracking: Tracking) -> str:
        sync_id = sync_id_of(domain_event)
        row = None if isinstance(domain_event, SecretSync.Created) else self.view.get_row(sync_id)
        record = apply_event(row.to_record() if row else None, domain_event)
        if record is None:  # already gone: nothing to apply the event to
            self.view.insert_tracking(tracking)
        elif record.deleted:
            self.view.delete_row(sync_id, tracking)
        else:
            self.view.save_row(SyncRow.of(record), tracking)
        return sync_id
