"""The read model's record of a sync: the same events give the same state as the
aggregate, without the managed keys; lease renewals move only the lease."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from domain.job_lease import JobLease
from domain.options import JobKind
from domain.secret_sync import SecretSync
from domain.sync_record import SyncRecord, apply_event
from tests.unit.test_secret_sync import LEASE, NOW, lived_a_little, new_sync, replay, running


def project(events: list[Any], record: SyncRecord | None = None) -> SyncRecord | None:
    for event in events:
        record = apply_event(record, event)
    return record


def test_the_record_of_the_events_is_the_record_of_the_aggregate():
    sync, events = lived_a_little()
    record = project(events)
    assert record == SyncRecord.of(replay(events))
    assert record.version == 12 and record.etag == sync.etag
    assert record.updated_at == sync.modified_on.isoformat()
    assert record.created_at == sync.created_on.isoformat()


def test_the_stored_form_round_trips_and_holds_no_managed_keys():
    sync = new_sync()
    running(sync)
    many = {f"key-{n}": [f"KEY-{n}", f"KEY_{n}", "fp", "t"] for n in range(10_000)}
    sync.succeed_job(JobKind.SYNC, "job-1", "ok", {"created": 10_000}, managed_changes=many)
    record = project(list(sync.collect_events()))
    assert len(sync.managed) == 10_000
    text = record.to_json()
    assert "managed" not in text and "KEY-1" not in text and len(text) < 2_000
    assert SyncRecord.from_json(record.id, record.version, text) == record
    assert not hasattr(record, "managed")


def lease_event(sync: SecretSync, worker: str, until: Any) -> JobLease.Event:
    lease = JobLease.first_renewal(str(sync.id), "sync", "job-1", worker, until, LEASE)
    return lease.collect_events()[0]


def test_a_renewal_by_the_holder_moves_its_lease_and_nothing_a_user_sees():
    sync = new_sync()
    running(sync)
    record = project(list(sync.collect_events()))
    version, updated, etag = record.version, record.updated_at, record.etag
    later = NOW + LEASE * 2
    assert record.running_job(later) is None
    record = apply_event(record, lease_event(sync, "worker-1", later))
    assert record.job(JobKind.SYNC)["lease_until"] == (later + LEASE).isoformat()
    assert record.running_job(later) == ("sync", "job-1")
    assert (record.version, record.updated_at, record.etag) == (version, updated, etag)


def test_a_renewal_by_a_worker_that_no_longer_holds_the_job_changes_nothing():
    sync = new_sync()
    running(sync)
    sync.start_job(JobKind.SYNC, "job-1", "worker-2", NOW + LEASE * 2, LEASE)  # takeover
    record = project(list(sync.collect_events()))
    before = record.job(JobKind.SYNC)["lease_until"]
    record = apply_event(record, lease_event(sync, "worker-1", NOW + LEASE * 3))
    assert record.job(JobKind.SYNC)["lease_until"] == before


def test_a_deleted_sync_comes_back_marked_and_later_events_find_nothing():
    sync = new_sync()
    sync.delete("alice", "r-del")
    record = project(list(sync.collect_events()))
    assert record.deleted
    assert (
        apply_event(
            None,
            SecretSync.Deleted(  # an event after the row is gone
                originator_id=sync.id,
                originator_version=3,
                timestamp=NOW + timedelta(1),
                actor="a",
                request_id="r",
            ),
        )
        is None
    )
