"""Rebuild the secret_syncs view: empty it, then replay the whole event log.

Run it while the service is stopped: the view is empty until the replay ends.
"""

from __future__ import annotations

import logging
import sys

from service.config import Config
from service.projection import latest_sync_event
from service.server import start_projection

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


def _report(done: int, total: int, width: int = 40) -> None:
    filled = width * done // total if total else width
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} events")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()
