"""A running job's lease, kept alive by its worker: job bookkeeping, apart from the sync.

The claim (SecretSync.JobStarted) gives a job its first lease. While the job runs,
its worker renews the lease every third of it, so that only a dead worker's job is
taken over. Renewals are recorded here, one aggregate per job run (the job and the
worker that holds it), not on the sync: they change nothing a user can see or set,
so they move neither the sync's version nor its etag, and appear neither in its
Watch stream nor in the audit trail. A takeover is a new run (another worker): the
old holder's renewals then no longer count.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate


class JobLease(Aggregate):
    """The lease of one job run: until when `worker` holds `job_id` of `sync_id`."""

    class Event(Aggregate.Event):
        # Every event says which run it renews, so the read model can apply it alone.
        sync_id: str
        kind: str
        job_id: str
        worker: str
        lease_until: str

    class Created(Event, Aggregate.Created):
        pass

    class Renewed(Event):
        def apply(self, lease: JobLease) -> None:
            lease.lease_until = self.lease_until

    def __init__(self, sync_id: str, kind: str, job_id: str, worker: str, lease_until: str):
        self.sync_id, self.kind, self.job_id, self.worker = sync_id, kind, job_id, worker
        self.lease_until = lease_until

    @staticmethod
    def create_id(sync_id: str, kind: str, job_id: str, worker: str) -> UUID:
        return lease_id(job_id, worker)

    @classmethod
    def first_renewal(
        cls, sync_id: str, kind: str, job_id: str, worker: str, now: datetime, lease: timedelta
    ) -> JobLease:
        """The run's first renewal (its claim gave it the first lease)."""
        return cls._create(
            cls.Created,
            sync_id=sync_id,
            kind=kind,
            job_id=job_id,
            worker=worker,
            lease_until=(now + lease).isoformat(),
        )

    def renew(self, now: datetime, lease: timedelta) -> None:
        """The worker says it is alive: its lease runs `lease` from now."""
        self.trigger_event(
            self.Renewed,
            sync_id=self.sync_id,
            kind=self.kind,
            job_id=self.job_id,
            worker=self.worker,
            lease_until=(now + lease).isoformat(),
        )


def lease_id(job_id: str, worker: str) -> UUID:
    """The id of the lease of one job run: the same for every renewal of it."""
    return uuid5(NAMESPACE_URL, f"/job-leases/{job_id}/{worker}")
