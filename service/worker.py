"""The worker: runs every requested sync job, once, with as many replicas as you like.

It wakes whenever the projection writes a change (and every POLL_SECONDS in any
case, for changes projected by another process), looks in the view for syncs
whose sync job is pending, or running under a lease that ran out, and hands
each to a JobRunner. Claiming is the exactly-once guard: of all the workers
that try, the event store lets one record JobStarted.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from adapters.sync_view import SecretSyncView
from domain.options import JobKind, JobStatus
from domain.snapshot import decode
from service.job_runner import JobRunner
from service.progress import Progress

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
        self.in_hand: set[tuple[str, str]] = set()  # (sync id, job id) being run here
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
        statuses = (JobStatus.PENDING.value, JobStatus.RUNNING.value)
        for row in self.view.rows_in_status(statuses, BATCH):
            sync = decode(row.id, row.version, row.state)
            job = sync.job(JobKind.SYNC)
            if job["status"] == JobStatus.RUNNING.value and sync.running_job(now):
                continue  # a live lease: someone is on it
            key = (row.id, job["job_id"])
            with self.lock:
                if key in self.in_hand:
                    continue
                self.in_hand.add(key)
            self.pool.submit(self._run, *key)

    def _run(self, sync_id: str, job_id: str) -> None:
        try:
            if self.runner.run_sync(sync_id, job_id):
                log.info("sync job %s of %s finished", job_id, sync_id)
        finally:
            with self.lock:
                self.in_hand.discard((sync_id, job_id))
