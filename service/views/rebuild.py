"""Rebuild the secret_syncs view from the whole event log.

Online (the default of `python -m service rebuild`): the log is replayed into a
new table beside the live one while the service goes on serving from the live
one; once the new table has reached the live one's position, it is swapped in
within one transaction that holds off the live projection's writes for a moment
(reads go on). If the live view moves on meanwhile, the new one catches up and
tries again. Offline (`--offline`, service stopped): empty the view and replay.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

from eventsourcing.persistence import InfrastructureFactory, Mapper, Notification, Tracking
from eventsourcing.utils import Environment

from adapters.sync_view import NEXT_TABLE, SecretSyncView, SyncRow
from domain.sync_record import SyncRecord, apply_event, sync_id_of
from service.app.secret_syncs import SecretSyncs
from service.runtime.config import Config
from service.runtime.store_encryption import event_store_env
from service.views.stores import open_sync_view, view_class
from service.views.sync_projection import SYNC_EVENT_TOPICS, SecretSyncProjection

NEXT_TRACKING = SecretSyncs.name + "#next"  # the new table's position, until the swap
MAX_SWAPS = 100
BATCH = 2000

log = logging.getLogger("secretsync.rebuild")


def rebuild(config: Config, report_every: float = 1.0) -> int:
    """Empty the view and replay every event into it; return how many syncs it holds."""
    app = SecretSyncs(env=event_store_env(config) | {"CREATE_TABLE": "false"})
    view = open_sync_view(config, reset=True)
    try:
        target = app.recorder.max_notification_id() or 0
        replay(app, view, app.name, 0, target, report_every, {})
        rows = len(view.all_rows())
        log.info("rebuilt the secret_syncs view: %s syncs from %s events", rows, target)
        return rows
    finally:
        app.close()
        view.datastore.close()  # type: ignore[attr-defined]


def rebuild_online(config: Config, report_every: float = 1.0) -> int:
    """Build the view anew beside the live one, then swap it in; return its rows."""
    app = SecretSyncs(env=event_store_env(config) | {"CREATE_TABLE": "false"})
    live = open_sync_view(config)
    fresh = open_next_view(config)
    records: dict[str, SyncRecord] = {}  # the new table's syncs, kept across catch-ups
    try:
        position, target = 0, app.recorder.max_notification_id() or 0
        for _ in range(MAX_SWAPS):
            position = replay(app, fresh, NEXT_TRACKING, position, target, report_every, records)
            if live.swap_in(NEXT_TABLE, app.name, NEXT_TRACKING):
                rows = len(live.all_rows())
                log.info(
                    "rebuilt the secret_syncs view online: %s syncs from %s events", rows, position
                )
                return rows
            target = app.recorder.max_notification_id() or 0
        raise RuntimeError("the live view kept moving ahead; try again when writes are quieter")
    finally:
        app.close()
        for view in (live, fresh):
            view.datastore.close()  # type: ignore[attr-defined]


def open_next_view(config: Config) -> SecretSyncView:
    """An empty table beside the live view (NEXT_TABLE), tracked as NEXT_TRACKING."""
    live_class = view_class(config)
    next_class = type("Next" + live_class.__name__, (live_class,), {"table": NEXT_TABLE})
    settings = {**config.persistence_env(), "CREATE_TABLE": "false"}
    factory = InfrastructureFactory[SecretSyncView].construct(
        env=Environment(SecretSyncProjection.name, settings)
    )
    view = factory.tracking_recorder(next_class)
    view.reset(NEXT_TRACKING)  # a table left by an interrupted rebuild is dropped
    return view


def replay(
    app: SecretSyncs,
    view: SecretSyncView,
    tracking_name: str,
    position: int,
    target: int,
    report_every: float,
    records: dict[str, SyncRecord],
) -> int:
    """Apply every sync event after `position` to `view`; return the last one's position.

    The same step as the live projection (`apply_event`), but where the projection
    reads a row and writes a transaction per event, a replay keeps the records in
    memory (`records`, by sync id) and writes each batch's changed rows and its
    position in one transaction: it only ever starts on an empty view.
    """
    last_report = 0.0
    transcode: Mapper[UUID] = Mapper(transcoder=app.mapper.transcoder)  # states come opened
    for batch in _opened_batches(app, position):
        changed: dict[str, SyncRecord] = {}
        deleted: set[str] = set()
        for notification in batch:
            event = transcode.to_domain_event(notification)
            sync_id = sync_id_of(event)
            record = apply_event(records.get(sync_id), event)
            if record is None:
                continue  # already deleted
            if record.deleted:
                records.pop(sync_id, None)
                changed.pop(sync_id, None)
                deleted.add(sync_id)
            else:
                records[sync_id] = changed[sync_id] = record
                deleted.discard(sync_id)
        rows = [SyncRow.of(record) for record in changed.values()]
        view.save_rows(rows, sorted(deleted), Tracking(tracking_name, batch[-1].id))
        position = batch[-1].id
        if time.monotonic() - last_report >= report_every:
            last_report = time.monotonic()
            _report(position, max(position, target))
    _report(position, position)  # caught up (the target may count other applications')
    return position


def _opened_batches(app: SecretSyncs, position: int) -> Iterator[list[Notification]]:
    """The sync events after `position`, a batch at a time, their states decrypted and
    decompressed (left to transcode). A thread reads and opens the next batch while the
    caller applies this one: the database's answer and zlib need no lock, so they run
    beside the caller's work, on another core when there is one."""

    def read(after: int) -> list[Notification]:
        batch = app.recorder.select_notifications(
            start=after, limit=BATCH, topics=SYNC_EVENT_TOPICS, inclusive_of_start=False
        )
        return [
            Notification(
                id=n.id,
                originator_id=n.originator_id,
                originator_version=n.originator_version,
                topic=n.topic,
                state=_open(app.mapper, n.state),
            )
            for n in batch
        ]

    with ThreadPoolExecutor(1, thread_name_prefix="rebuild-read") as reader:
        batch = read(position)
        while batch:
            following = reader.submit(read, batch[-1].id)
            yield batch
            batch = following.result()


def _open(mapper: Mapper, state: bytes) -> bytes:
    """A stored state as the transcoder reads it (what Mapper.to_domain_event does first)."""
    if mapper.cipher:
        state = mapper.cipher.decrypt(state)
    if mapper.compressor:
        state = mapper.compressor.decompress(state)
    return state


def _report(done: int, total: int, width: int = 40) -> None:
    filled = width * done // total if total else width
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} events")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()
