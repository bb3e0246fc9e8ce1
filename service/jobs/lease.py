"""Keeping a job's lease alive while it runs, so only a dead worker loses its job.

A job can outlast its lease (10,000 secrets at Key Vault's 30 sets/s take five
minutes); without renewal another replica would take over a live job and both
would write. The keeper renews every third of the lease; if it cannot (the job
was taken over, or the sync deleted) it stops, and the outcome the runner then
tries to record is refused, because only the holder may finish a job. Renewals are
recorded on the run's own JobLease (domain/job_lease.py), not on the sync: they
change nothing a user sees.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from eventsourcing.persistence import IntegrityError

from domain.errors import SecretSyncError
from domain.options import JobKind
from service.app.secret_syncs import SecretSyncs

log = logging.getLogger("secretsync.jobs")


@dataclass(frozen=True)
class JobLease:
    """The lease a worker holds on one running job."""

    syncs: SecretSyncs
    sync_id: str
    kind: JobKind
    job_id: str
    worker: str
    lease: timedelta
    clock: Callable[[], datetime]

    @contextmanager
    def kept(self) -> Iterator[None]:
        """Renew the lease every third of it until the block ends (or the lease is lost)."""
        done = threading.Event()

        def keep() -> None:
            while not done.wait(self.lease.total_seconds() / 3):
                if not self.renew():
                    return

        keeper = threading.Thread(target=keep, daemon=True, name=f"lease-{self.job_id[:8]}")
        keeper.start()
        try:
            yield
        finally:
            done.set()
            keeper.join()

    def renew(self) -> bool:
        """False once the lease is lost (taken over, or the sync deleted)."""
        for _ in range(5):  # another event may land between our read and write
            try:
                self.syncs.renew_lease(
                    self.sync_id, self.kind, self.job_id, self.worker, self.clock(), self.lease
                )
                return True
            except IntegrityError:
                continue
            except SecretSyncError as error:
                log.warning("job %s lost its lease: %s", self.job_id, error)
                return False
            except Exception:
                log.exception("renewing the lease of job %s failed; trying again", self.job_id)
                return True
        return True
