"""The worker: runs every requested job, once, with as many replicas as you like.

It wakes whenever the projection writes a change (and every POLL_SECONDS in any
case, for changes projected by another process), looks in the view for syncs
with a job pending, or running under a lease that ran out, and hands each to a
JobRunner. Claiming is the exactly-once guard: of all the workers that try, the
event store lets one record JobStarted. A sync runs one job at a time; when
several are pending, imports go first (a sync then pushes what they brought),
then syncs, then removals (so a removal requested last has the last word).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from adapters.sync_view import SecretSyncView
from domain.options import JobKind, JobStatus
from domain.sync_record import SyncRecord
from service.jobs.job_runner import JobRunner
from service.views.progress import Progress

POLL_SECONDS = 1.0
BATCH = 100
log = logging.getLogger("secretsync.worker")


class SyncWorker:
    def __init__(
        self,
        runner: JobRunner,
        view: SecretSyncView,
        progress: Progress,
        concurrency: int = 4,
    ) -> None:
        self.runner = runner
        self.view = view
        self.progress = progress
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="job")
        self.in_hand: set[tuple[str, JobKind, str]] = set()  # (sync, kind, job) run here
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="sync-worker")

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Take no new jobs; let running ones finish (their lease covers a crash)."""
        self.stopping.set()
        self.thread.join(timeout=5)
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            seen = self.progress.position
            try:
                self._take_jobs()
            except Exception:
                log.exception("looking for jobs failed; trying again")
            self.progress.wait_for_position(seen + 1, POLL_SECONDS)  # a change, or a poll

    def _take_jobs(self) -> None:
        now = datetime.now(UTC)
        for row in self.view.rows_with_open_jobs(BATCH):
            due = next_job(row.to_record(), now)
            if due is None:
                continue
            with self.lock:
                if due in self.in_hand:
                    continue
                self.in_hand.add(due)
            self.pool.submit(self._run, *due)

    def _run(self, sync_id: str, kind: JobKind, job_id: str) -> None:
        try:
            if self.runner.run(sync_id, kind, job_id):
                log.info("%s job %s of %s finished", kind.value, job_id, sync_id)
        finally:
            with self.lock:
                self.in_hand.discard((sync_id, kind, job_id))


ORDER = (JobKind.IMPORT, JobKind.SYNC, JobKind.REMOVE)


def next_job(sync: SyncRecord, now: datetime) -> tuple[str, JobKind, str] | None:
    """The job to run next on this sync, or None while a live lease holds it."""
    if sync.running_job(now) is not None:
        return None  # someone is on it
    for kind in ORDER:
        job = sync.job(kind)
        if job["status"] in (JobStatus.PENDING.value, JobStatus.RUNNING.value):
            return str(sync.id), kind, job["job_id"]  # pending, or abandoned by its worker
    return None
