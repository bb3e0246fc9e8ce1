"""Auto-sync: a change to a folder requests a sync on every auto-sync sync reading it.

A follower of the secret source's log collects which folders changed; every
DEBOUNCE_SECONDS of quiet (or MAX_WAIT_SECONDS at most) it works out which
syncs read those folders (directly, through imports or references) and
requests a sync on each. A sync whose sync job is already pending gets no
second request, so a burst of changes yields one request, and a change during
a run yields exactly one follow-up. The follower's position is saved only after
the requests are recorded: after a crash, changes are looked at again, never lost.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import Repository
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.projection import Projection

from adapters.sync_view import SecretSyncView, SyncFilter
from domain.errors import FailedPrecondition
from domain.folder import Folder
from domain.resolve import folders_read_by
from domain.sync_record import SyncRecord
from service.app.call_context import CallContext, new_request_id
from service.app.secret_sources import SecretSources
from service.app.secret_syncs import SecretSyncs
from service.jobs.drift_repair import DriftRepair

DEBOUNCE_SECONDS = 0.3
MAX_WAIT_SECONDS = 2.0
AUTO_SYNC_ACTOR = "auto-sync"
CHANGES = (
    Folder.SecretsSet,
    Folder.SecretDeleted,
    Folder.ImportAdded,
    Folder.ImportRemoved,
    Folder.Deleted,
    Folder.Revived,
)
log = logging.getLogger("secretsync.autosync")

Place = tuple[str, str, str]  # project, environment, path


@dataclass(frozen=True)
class Batch:
    """Folders changed since the last batch, the position to save once acted on, and
    the position of the newest change."""

    changed: set[Place]
    deleted: set[Place]
    tracking: Tracking | None
    newest_change: int  # the source log position of the newest change (0: none)


class SourceChanges(Projection[TrackingRecorder]):
    """Collects changed folders from the source's log; AutoSync acts on them."""

    name = "auto_sync"

    def __init__(self, view: TrackingRecorder, folders: Repository[UUID]) -> None:
        """`folders` loads a folder by id: events name the folder, syncs its place."""
        super().__init__(view)
        self.folders = folders
        self.lock = threading.Lock()
        self.changed: set[Place] = set()
        self.deleted: set[Place] = set()
        self.latest: Tracking | None = None
        self.first_change_at = 0.0
        self.newest_change = 0  # the source log position of the newest change
        self.last_change_at = 0.0

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        with self.lock:
            self.latest = tracking

    @process_event.register
    def folder_changed(self, domain_event: Folder.Event, tracking: Tracking) -> None:
        if not isinstance(domain_event, CHANGES):
            with self.lock:
                self.latest = tracking
            return
        folder = self.folders.get(domain_event.originator_id)
        place = (folder.project_id, folder.environment, folder.path)
        now = time.monotonic()
        with self.lock:
            if not self.changed:
                self.first_change_at = now
            self.changed.add(place)
            if isinstance(domain_event, Folder.Deleted):
                self.deleted.add(place)
            self.last_change_at = now
            self.newest_change = tracking.notification_id
            self.latest = tracking

    def take(self, now: float) -> Batch | None:
        """The batch to act on, once quiet long enough (or waited long enough)."""
        with self.lock:
            if not self.changed:
                latest, self.latest = self.latest, None
                return Batch(set(), set(), latest, 0) if latest else None
            quiet = now - self.last_change_at >= DEBOUNCE_SECONDS
            overdue = now - self.first_change_at >= MAX_WAIT_SECONDS
            if not (quiet or overdue):
                return None
            batch = Batch(self.changed, self.deleted, self.latest, self.newest_change)
            self.changed, self.deleted, self.latest = set(), set(), None
            self.newest_change = 0
            return batch

    def put_back(self, batch: Batch) -> None:
        """A batch that could not be acted on: look at it again on the next round."""
        with self.lock:
            self.changed |= batch.changed
            self.deleted |= batch.deleted
            self.latest = self.latest or batch.tracking
            self.newest_change = max(self.newest_change, batch.newest_change)


class AutoSync:
    """Turns batches of changed folders into sync requests."""

    def __init__(
        self,
        changes: SourceChanges,
        sources: SecretSources,
        syncs: SecretSyncs,
        view: SecretSyncView,
    ) -> None:
        self.changes = changes
        self.sources = sources
        self.syncs = syncs
        self.view = view
        # Syncs with a refresh interval also run when it has passed (drift repair).
        self.drift_repair = DriftRepair(syncs, view)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="auto-sync")

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)

    def _run(self) -> None:
        while not self.stopping.wait(DEBOUNCE_SECONDS / 3):
            try:
                self.drift_repair.tick()
            except Exception:
                log.exception("drift repair could not scan the syncs")
            batch = self.changes.take(time.monotonic())
            if batch is None:
                continue
            try:
                self.act(batch.changed, batch.deleted, batch.newest_change)
            except Exception:
                log.exception("auto-sync could not act on %s changed folders", len(batch.changed))
                self.changes.put_back(batch)
                continue
            if batch.tracking is not None:
                self.changes.view.insert_tracking(batch.tracking)

    def act(self, changed: set[Place], deleted: set[Place], change_position: int = 0) -> int:
        """Request a sync on each auto-sync sync that reads a changed folder, unless
        a sync job of it started after the newest change (`change_position`) and saw it."""
        ctx = CallContext(actor=AUTO_SYNC_ACTOR, request_id=new_request_id())
        requested = 0
        for project_id in {place[0] for place in changed}:
            places = {(env, path) for p, env, path in changed if p == project_id}
            gone = {(env, path) for p, env, path in deleted if p == project_id}
            load = self.sources.folders_loader(project_id)
            for sync in self._syncs_of(project_id):
                own = (sync.environment, sync.secret_path)
                if own in gone or (own in places and sync.source["problem"]):
                    self._refresh_source(sync, ctx)
                if sync.is_enabled and places & folders_read_by(*own, load):
                    requested += self.syncs.request_auto_sync(str(sync.id), ctx, change_position)
        if requested:
            log.info("auto-sync requested %s syncs for %s changed folders", requested, len(changed))
        return requested

    def _refresh_source(self, sync: SyncRecord, ctx: CallContext) -> None:
        """Record on the sync whether its own folder is gone or back, as it is now."""
        try:
            self.sources.locate(sync.project_id, sync.environment, sync.secret_path)
        except FailedPrecondition:
            problem = f"folder {sync.environment}:{sync.secret_path} was deleted"
            self.syncs.record_source_lost(str(sync.id), problem, ctx)
        else:
            self.syncs.record_source_found(str(sync.id), ctx)

    def _syncs_of(self, project_id: str) -> list[SyncRecord]:
        rows, after = [], ""
        while True:
            page = self.view.list_rows(SyncFilter(project_id, limit=500, after_name=after))
            rows += page
            if len(page) < 500:
                return [r.to_record() for r in rows]
            after = page[-1].name
