"""The worker runs requested jobs by itself: set a secret in the source and it appears
in the vault, with no trigger call. Real gRPC, the real SDK, the emulator."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api

from domain.options import JobKind
from domain.secret_sync import SecretSync
from service.jobs.job_runner import JobRunner
from service.jobs.worker import SyncWorker
from tests.emulator.test_job_runner import EmulatorVaults, create_sync, finished, set_secrets


@pytest.fixture
def worker(server, emulator) -> Iterator[SyncWorker]:
    runner = JobRunner(server.app, server.sources, EmulatorVaults(emulator), "worker-1")
    worker = SyncWorker(runner, server.view, server.progress)
    worker.start()
    yield worker
    worker.stop()


def vault_value(emulator, name: str) -> str | None:
    try:
        return emulator.vault().get_secret(name).version.value
    except Exception:
        return None


def wait_for(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return result


def sync_starts(server, sync_id: str) -> list[SecretSync.JobStarted]:
    events = server.app.events.get(UUID(sync_id))
    return [e for e in events if isinstance(e, SecretSync.JobStarted)]


def test_a_new_sync_is_run_without_a_trigger(server, stub, source_stub, emulator, worker):
    set_secrets(source_stub, DB_HOST="db.internal")
    sync = create_sync(stub, emulator)
    assert finished(stub, sync.id).sync_status == pb.JOB_STATUS_SUCCEEDED
    assert vault_value(emulator, "app-DB-HOST") == "db.internal"


def test_setting_a_secret_reaches_the_vault_with_no_trigger(
    server, stub, source_stub, emulator, worker
):
    set_secrets(source_stub, A="1")
    sync = create_sync(stub, emulator)
    finished(stub, sync.id)
    set_secrets(source_stub, A="2", B="new")
    wait_for(lambda: vault_value(emulator, "app-A") == "2" and vault_value(emulator, "app-B"))


def test_a_burst_of_changes_gives_at_most_two_runs(server, stub, source_stub, emulator, worker):
    set_secrets(source_stub, A="0")
    sync = create_sync(stub, emulator)
    finished(stub, sync.id)
    before = len(sync_starts(server, sync.id))
    for i in range(100):
        set_secrets(source_stub, A=str(i + 1))
    wait_for(lambda: vault_value(emulator, "app-A") == "100")
    time.sleep(1.0)  # let anything still queued show up before counting
    assert 1 <= len(sync_starts(server, sync.id)) - before <= 2


def test_changes_made_before_the_first_sync_started_give_no_second_run(
    server, stub, source_stub, emulator, worker
):
    set_secrets(source_stub, A="1")
    sync = create_sync(stub, emulator)  # before auto-sync acts on the change (0.3 s)
    finished(stub, sync.id)
    time.sleep(2.5)  # auto-sync acts within 2 s of a change: give it time to (not) act
    assert len(sync_starts(server, sync.id)) == 1
    assert vault_value(emulator, "app-A") == "1"


def test_a_job_whose_worker_died_is_taken_over(server, stub, source_stub, emulator):
    set_secrets(source_stub, A="1")
    sync = create_sync(stub, emulator)
    dead = server.app.get_sync(sync.id)  # a worker that claims, then dies
    seen = server.sources.recorder.max_notification_id()  # as a real claim records it
    dead.start_job(JobKind.SYNC, sync.last_sync_job_id, "dead-worker",
                   datetime.now(UTC) - timedelta(minutes=10), timedelta(minutes=5),
                   source_position=seen)
    server.app.save(dead)
    runner = JobRunner(server.app, server.sources, EmulatorVaults(emulator), "worker-2")
    worker = SyncWorker(runner, server.view, server.progress)
    worker.start()
    try:
        assert finished(stub, sync.id).sync_status == pb.JOB_STATUS_SUCCEEDED
    finally:
        worker.stop()
    assert [e.worker for e in sync_starts(server, sync.id)] == ["dead-worker", "worker-2"]
    assert vault_value(emulator, "app-A") == "1"


def test_a_trigger_while_running_gets_exactly_one_follow_up(
    server, stub, source_stub, emulator, worker
):
    set_secrets(source_stub, A="1")
    sync = create_sync(stub, emulator)
    finished(stub, sync.id)
    for _ in range(3):
        stub.TriggerSecretSync(api.TriggerSecretSyncRequest(id=sync.id))
    wait_for(lambda: finished(stub, sync.id).last_sync_job_id and all(
        s.sync_status != pb.JOB_STATUS_PENDING
        for s in [stub.GetSecretSync(api.GetSecretSyncRequest(id=sync.id)).secret_sync]
    ))
    starts = sync_starts(server, sync.id)
    assert len({e.job_id for e in starts}) == len(starts)  # no job ran twice
