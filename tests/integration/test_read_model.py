"""The secret_syncs view is built for reading: a sync with 10,000 managed keys is read
by Get, List, Watch and the worker's scan from its small record, without loading the
aggregate or its managed keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api

from domain.options import JobKind
from domain.secret_sync import SecretSync
from service.jobs.worker import next_job
from tests.conftest import create_request
from tests.integration.sync_helpers import poll

KEYS = 10_000


def with_managed_keys(server: Any, sync_id: str, job_id: str) -> None:
    """Record a sync job that wrote KEYS secrets, with the domain's commands (a real
    vault run of that size takes minutes at Key Vault's pace)."""
    sync = server.app.get_sync(sync_id)
    sync.start_job(JobKind.SYNC, job_id, "test-worker", datetime.now(UTC), timedelta(minutes=5))
    written = {f"key-{n}": [f"KEY-{n}", f"KEY_{n}", f"fp-{n}", 1] for n in range(KEYS)}
    sync.succeed_job(
        JobKind.SYNC, job_id, f"{KEYS} created", {"created": KEYS}, managed_changes=written
    )
    server.app.save(sync)


def refuse(*args: Any, **kwargs: Any) -> NoReturn:
    raise AssertionError("a read of the view loaded a sync from the event store")


def test_reads_of_a_sync_with_10000_managed_keys_read_no_managed_keys(server, stub, monkeypatch):
    created = stub.CreateSecretSync(create_request()).secret_sync
    with_managed_keys(server, created.id, created.last_sync_job_id)
    assert len(server.app.get_sync(created.id).managed) == KEYS
    request = api.GetSecretSyncRequest(id=created.id)
    poll(
        lambda: stub.GetSecretSync(request).secret_sync,
        lambda shown: shown.sync_status == pb.JOB_STATUS_SUCCEEDED,
        timeout=20,
    )
    stub.TriggerSecretSync(api.TriggerSecretSyncRequest(id=created.id))  # a job to find

    # The row holds the record only: no managed key, a small text.
    row = server.view.get_row(created.id)
    assert "managed" not in row.record and "KEY-1" not in row.record
    assert len(row.record) < 2_000
    # And no read below builds the aggregate or reads its events.
    monkeypatch.setattr(server.app.repository, "get", refuse)
    monkeypatch.setattr(server.app.recorder, "select_events", refuse)
    monkeypatch.setattr(SecretSync, "apply_managed_changes", refuse)

    shown = stub.GetSecretSync(request).secret_sync
    assert shown.last_sync_message == f"{KEYS} created"
    assert shown.sync_status == pb.JOB_STATUS_PENDING
    listed = stub.ListSecretSyncs(api.ListSecretSyncsRequest(project_id=created.project_id))
    assert [s.id for s in listed.secret_syncs] == [created.id]
    watch = stub.WatchSecretSync(api.WatchSecretSyncRequest(id=created.id), timeout=10)
    assert next(watch).secret_sync == shown
    watch.cancel()
    # The worker's scan: the view's queue, and the job it would run next.
    queued = [r for r in server.view.rows_with_open_jobs(10) if r.id == created.id]
    due = next_job(queued[0].to_record(), datetime.now(UTC))
    assert due == (created.id, JobKind.SYNC, shown.last_sync_job_id)
