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
from eventsourcing.persistence import IntegrityError, Tracking, TrackingRecorder
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
from service.runtime.store_errors import store_failure

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
    """Folders changed since the last batch, each with the source log position of its
    newest change, and the position to save once acted on."""

    changed: dict[Place, int]
    deleted: set[Place]
    tracking: Tracking | None


class SourceChanges(Projection[TrackingRecorder]):
    """Collects changed folders from the source's log; AutoSync acts on them."""

    name = "auto_sync"

    def __init__(self, view: TrackingRecorder, folders: Repository[UUID]) -> None:
        """`folders` loads a folder by id: events name the folder, syncs its place."""
        super().__init__(view)
        self.folders = folders
        self.lock = threading.Lock()
        self.changed: dict[Place, int] = {}  # folder -> position of its newest change
        self.deleted: set[Place] = set()
        self.latest: Tracking | None = None
        self.first_change_at = 0.0
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
            self.changed[place] = tracking.notification_id
            if isinstance(domain_event, Folder.Deleted):
                self.deleted.add(place)
            self.last_change_at = now
            self.latest = tracking

    def take(self, now: float) -> Batch | None:
        """The batch to act on, once quiet long enough (or waited long enough)."""
        with self.lock:
            if not self.changed:
                latest, self.latest = self.latest, None
                return Batch({}, set(), latest) if latest else None
            quiet = now - self.last_change_at >= DEBOUNCE_SECONDS
            overdue = now - self.first_change_at >= MAX_WAIT_SECONDS
            if not (quiet or overdue):
                return None
            batch = Batch(self.changed, self.deleted, self.latest)
            self.changed, self.deleted, self.latest = {}, set(), None
            return batch

    def put_back(self, batch: Batch) -> None:
        """A batch that could not be acted on: look at it again on the next round."""
        with self.lock:
            for place, position in batch.changed.items():
                self.changed[place] = max(self.changed.get(place, 0), position)
            self.deleted |= batch.deleted
            self.latest = self.latest or batch.tracking


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
        self.paused = threading.Event()
        # Syncs with a refresh interval also run when it has passed (drift repair).
        self.drift_repair = DriftRepair(syncs, view)

    def stop(self) -> None:
        """Act on nothing more (the supervisor's loop runs on idle until the server stops)."""
        self.paused.set()

    def run(self, stopping: threading.Event) -> None:
        """The supervised loop (service/runtime/supervisor.py): a failure to save the
        position raises, and the supervisor runs this again after a backoff."""
        while not stopping.wait(DEBOUNCE_SECONDS / 3):
            if self.paused.is_set():
                continue
            try:
                self.drift_repair.tick()
            except Exception as error:  # a scan that failed is tried on the next tick
                if store_failure(error) is None:
                    log.exception("drift repair could not scan the syncs")
            batch = self.changes.take(time.monotonic())
            if batch is None:
                continue
            try:
                self.act(batch.changed, batch.deleted)
            except Exception as error:
                if store_failure(error) is None:
                    log.exception("auto-sync could not act on %s changed folders",
                                  len(batch.changed))
                self.changes.put_back(batch)
                raise
            if batch.tracking is not None:
                self._save_position(batch.tracking)

    def _save_position(self, tracking: Tracking) -> None:
        """Saved after acting. A position already saved (the follower replayed events after
        a restart, or another leader saved it) is no failure: those changes were acted on."""
        try:
            self.changes.view.insert_tracking(tracking)
        except IntegrityError:
            saved = self.changes.view.max_tracking_id(tracking.application_name) or 0
            if saved < tracking.notification_id:
                raise

    def act(self, changed: dict[Place, int], deleted: set[Place]) -> int:
        """Request a sync on each auto-sync sync that reads a changed folder, unless a
        sync job of it started after the newest change *of a folder it reads* and saw it.

        Per folder, not per batch: a batch's newest change may be an unrelated folder's,
        newer than the sync's running job, and must not make that job look stale (that
        requested a second, spurious job)."""
        ctx = CallContext(actor=AUTO_SYNC_ACTOR, request_id=new_request_id())
        requested = 0
        for project_id in {place[0] for place in changed}:
            places = {(env, path): n for (p, env, path), n in changed.items() if p == project_id}
            gone = {(env, path) for p, env, path in deleted if p == project_id}
            load = self.sources.folders_loader(project_id)
            for sync in self._syncs_of(project_id):
                own = (sync.environment, sync.secret_path)
                if own in gone or (own in places and sync.source["problem"]):
                    self._refresh_source(sync, ctx)
                read = places.keys() & folders_read_by(*own, load)
                if sync.is_enabled and read:
                    newest = max(places[place] for place in read)
                    requested += self.syncs.request_auto_sync(str(sync.id), ctx, newest)
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
