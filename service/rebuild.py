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

from eventsourcing.persistence import InfrastructureFactory, Tracking
from eventsourcing.utils import Environment

from adapters.sync_view import NEXT_TABLE, SecretSyncView
from service.config import Config
from service.projection import SYNC_EVENT_TOPICS, SecretSyncProjection, latest_sync_event
from service.secret_syncs import SecretSyncs
from service.server import open_sync_view, start_projection, view_class

NEXT_TRACKING = SecretSyncs.name + "#next"  # the new table's position, until the swap
MAX_SWAPS = 100
BATCH = 500

log = logging.getLogger("secretsync.rebuild")


def rebuild(config: Config, report_every: float = 1.0) -> int:
    """Replay every event into an emptied view; return how many syncs it holds."""
    runner = start_projection(config, reset=True)
    try:
        target = latest_sync_event(runner.app.recorder)
        progress = runner.projection.progress  # type: ignore[attr-defined]
        while not progress.wait_for_position(target, report_every):
            runner.run_forever(timeout=0)  # re-raises a projection error, if any
            _report(progress.position, target)
        _report(target, target)
        rows = len(runner.view.all_rows())
        log.info("rebuilt the secret_syncs view: %s syncs from %s events", rows, target)
        return rows
    finally:
        runner.__exit__(None, None, None)
        runner.view.datastore.close()  # type: ignore[attr-defined]


def rebuild_online(config: Config, report_every: float = 1.0) -> int:
    """Build the view anew beside the live one, then swap it in; return its rows."""
    app = SecretSyncs(env=config.persistence_env() | {"CREATE_TABLE": "false"})
    live = open_sync_view(config)
    fresh = open_next_view(config)
    projection = SecretSyncProjection(fresh)
    try:
        position, target = 0, latest_sync_event(app.recorder)
        for _ in range(MAX_SWAPS):
            position = _catch_up(app, projection, position, target, report_every)
            if live.swap_in(NEXT_TABLE, app.name, NEXT_TRACKING):
                rows = len(live.all_rows())
                log.info(
                    "rebuilt the secret_syncs view online: %s syncs from %s events", rows, position
                )
                return rows
            target = latest_sync_event(app.recorder, position)
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


def _catch_up(
    app: SecretSyncs,
    projection: SecretSyncProjection,
    position: int,
    target: int,
    report_every: float,
) -> int:
    """Apply every sync event after `position` to the new view; return the last one's."""
    last_report = 0.0
    while True:
        batch = app.recorder.select_notifications(
            start=position, limit=BATCH, topics=SYNC_EVENT_TOPICS, inclusive_of_start=False
        )
        if not batch:
            _report(position, max(position, target))
            return position
        for notification in batch:
            event = app.mapper.to_domain_event(notification)
            projection.process_event(event, Tracking(NEXT_TRACKING, notification.id))
        position = batch[-1].id
        if time.monotonic() - last_report >= report_every:
            last_report = time.monotonic()
            _report(position, max(position, target))


def _report(done: int, total: int, width: int = 40) -> None:
    filled = width * done // total if total else width
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} events")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()
