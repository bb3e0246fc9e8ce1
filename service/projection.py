"""The projection that keeps the secret_syncs view: it applies each sync event
to the sync's stored state and writes the result with the tracking position."""

from __future__ import annotations

from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from adapters.sync_view import SecretSyncView, SyncRow
from domain.secret_sync import SecretSync
from domain.snapshot import decode, encode
from service.progress import Progress


class SecretSyncProjection(Projection[SecretSyncView]):
    name = "secret_syncs_view"

    def __init__(self, view: SecretSyncView) -> None:
        super().__init__(view)
        self.progress = Progress()

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Events of other aggregates (name claims) only move the position."""
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
        self.progress.advance(tracking.notification_id, sync_id)


def to_row(sync: SecretSync) -> SyncRow:
    return SyncRow(
        id=str(sync.id),
        project_id=sync.project_id,
        name=sync.name,
        connection_id=sync.connection_id,
        environment=sync.environment,
        sync_status=sync.jobs["sync"]["status"] or "",
        version=sync.version,
        state=encode(sync),
    )
