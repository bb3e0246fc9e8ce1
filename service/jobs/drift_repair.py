"""Drift repair: syncs with a refresh interval run again when it has passed, even if
nothing changed in the source, so a value edited or deleted in the vault by hand is put
back (what users of External Secrets Operator know as `refreshInterval`).

Every SCAN_SECONDS it reads the view's rows and works out, for each sync with an
interval, when it is due: its last change (the end of its last run, usually) plus the
interval. A row is decoded only when its version changed since the last scan. Due syncs
get a sync request (reason "refresh"); a run that finds nothing drifted reads only the
vault's listing. Any replica may do this: a request is recorded once (a pending sync
job gets no second one).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from adapters.sync_view import SecretSyncView
from service.app.call_context import CallContext, new_request_id
from service.app.secret_syncs import SecretSyncs

SCAN_SECONDS = 1.0
REFRESH_ACTOR = "drift-repair"
log = logging.getLogger("secretsync.driftrepair")


class DriftRepair:
    def __init__(
        self,
        syncs: SecretSyncs,
        view: SecretSyncView,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.syncs = syncs
        self.view = view
        self.clock = clock
        self.monotonic = monotonic
        self._next_scan = 0.0
        self._due: dict[str, tuple[int, datetime | None]] = {}  # id -> (version, due at)

    def tick(self) -> int:
        """Scan when it is time to; the number of syncs a refresh was requested for."""
        if self.monotonic() < self._next_scan:
            return 0
        self._next_scan = self.monotonic() + SCAN_SECONDS
        now = self.clock()
        requested = 0
        for sync_id in self._due_now(now):
            ctx = CallContext(actor=REFRESH_ACTOR, request_id=new_request_id())
            try:
                requested += self.syncs.request_refresh(sync_id, ctx, now)
            except Exception:  # one sync's trouble must not stop the others' refresh
                log.exception("could not request the refresh of sync %s", sync_id)
        if requested:
            log.info("drift repair requested %s syncs", requested)
        return requested

    def _due_now(self, now: datetime) -> list[str]:
        due: dict[str, tuple[int, datetime | None]] = {}
        for row in self.view.all_rows():
            known = self._due.get(row.id)
            if known is not None and known[0] == row.version:
                due[row.id] = known
                continue
            record = row.to_record()
            interval = record.refresh_interval_seconds
            last_change = datetime.fromisoformat(record.updated_at)
            at = last_change + timedelta(seconds=interval) if interval else None
            due[row.id] = (row.version, at if record.is_enabled else None)
        self._due = due  # rows gone from the view are forgotten
        return [sync_id for sync_id, (_, at) in due.items() if at is not None and at <= now]
