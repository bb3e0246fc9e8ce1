"""Keeping a job's lease alive while it runs, so only a dead worker loses its job.

A job can outlast its lease (10,000 secrets at Key Vault's 30 sets/s take five
minutes); without renewal another replica would take over a live job and both
would write. The keeper renews every third of the lease; if it cannot (the job
was taken over, or the sync deleted) it stops, and the outcome the runner then
tries to record is refused, because only the holder may finish a job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from eventsourcing.persistence import IntegrityError

from domain.errors import SecretSyncError
from domain.options import JobKind
from service.secret_syncs import SecretSyncs

log = logging.getLogger("secretsync.jobs")


@contextmanager
def lease_kept(
    syncs: SecretSyncs,
    sync_id: str,
    kind: JobKind,
    job_id: str,
    worker: str,
    lease: timedelta,
    clock: Callable[[], datetime],
) -> Iterator[None]:
    done = threading.Event()

    def keep() -> None:
        while not done.wait(lease.total_seconds() / 3):
            if not _renew(syncs, sync_id, kind, job_id, worker, lease, clock):
                return

    keeper = threading.Thread(target=keep, daemon=True, name=f"lease-{job_id[:8]}")
    keeper.start()
    try:
        yield
    finally:
        done.set()
        keeper.join()


def _renew(
    syncs: SecretSyncs,
    sync_id: str,
    kind: JobKind,
    job_id: str,
    worker: str,
    lease: timedelta,
    clock: Callable[[], datetime],
) -> bool:
    for _ in range(5):  # another event may land between our read and write
        try:
            sync = syncs.get_sync(sync_id)
            sync.renew_lease(kind, job_id, worker, clock(), lease)
            syncs.save(sync)
            return True
        except IntegrityError:
            continue
        except SecretSyncError as error:
            log.warning("job %s lost its lease: %s", job_id, error)
            return False
        except Exception:
            log.exception("renewing the lease of job %s failed; trying again", job_id)
            return True
    return True
