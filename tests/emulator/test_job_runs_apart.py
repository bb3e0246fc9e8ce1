"""Job runs apart from the sync's settings: a long job's claim, lease renewals and
outcome leave the etag a user read valid, and renewals show neither in the sync's Watch
stream nor in the audit trail; only a change of a setting makes an etag stale."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from itertools import pairwise
from typing import Any
from uuid import UUID

import grpc
import pytest
from eventsourcing.utils import get_topic
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api

from domain.job_lease import JobLease
from tests.audit.helpers import audit_stub, settled
from tests.conftest import create_request, start_server
from tests.emulator.conftest import eventually
from tests.emulator.world import World
from tests.integration.sync_helpers import assert_error, fails, mask, update

LEASE_SECONDS = 0.6  # renewed every 0.2 s
VAULT_LATENCY_MS = 3000  # every vault request of the long job takes this long
ETAG_MISMATCH = (grpc.StatusCode.ABORTED, "ETAG_MISMATCH")
LEASE_TOPICS = [get_topic(JobLease.Created), get_topic(JobLease.Renewed)]


@pytest.fixture
def short_leases(database_url, emulator, monkeypatch) -> Iterator[tuple[Any, grpc.Channel]]:
    """A server whose worker runs jobs with a short lease, and a channel to it."""
    monkeypatch.setenv("SECRET_SYNC_CA_BUNDLE", str(emulator.ca_path))
    server = start_server(database_url, run_jobs=True, job_lease_seconds=LEASE_SECONDS)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield server, channel
    finally:
        emulator.faults.configure({"latency_ms": 0})
        server.stop(grace=1.0)


def lease_renewals(server: Any, sync_id: str) -> int:
    """JobLease events of the sync's job runs, in the event store."""
    notifications = server.app.recorder.select_notifications(
        start=0, limit=10_000, topics=LEASE_TOPICS
    )
    events = map(server.app.mapper.to_domain_event, notifications)
    return sum(event.sync_id == sync_id for event in events)


class Watched:
    """A WatchSecretSync stream read on a thread until it is cancelled."""

    def __init__(self, world: World, sync_id: str) -> None:
        self.call = world.syncs.WatchSecretSync(api.WatchSecretSyncRequest(id=sync_id))
        self.shown: list[pb.SecretSync] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for message in self.call:
                self.shown.append(message.secret_sync)
        except grpc.RpcError:
            pass  # cancelled

    def stop(self) -> list[pb.SecretSync]:
        self.call.cancel()
        self.thread.join(10)
        return self.shown


def visible(shown: pb.SecretSync) -> pb.SecretSync:
    """What a user sees change, beyond the version and the time of the last change."""
    copy = pb.SecretSync()
    copy.CopyFrom(shown)
    copy.ClearField("version")
    copy.ClearField("updated_at")
    return copy


def test_an_update_racing_a_long_job_with_the_etag_read_before_it_succeeds(short_leases, emulator):
    server, channel = short_leases
    world = World(channel, emulator)
    world.set_many({"A": "1", "B": "2"})
    sync = world.create()  # its first sync job has run
    read = world.get(sync.id)
    watched = Watched(world, sync.id)

    world.emulator.faults.configure({"latency_ms": VAULT_LATENCY_MS})
    world.syncs.TriggerSecretSync(api.TriggerSecretSyncRequest(id=sync.id))
    eventually(lambda: world.get(sync.id).sync_status == pb.JOB_STATUS_RUNNING)
    eventually(lambda: lease_renewals(server, sync.id) >= 2)

    updated = update(world.syncs, sync.id, ["description"], etag=read.etag, description="raced")
    assert updated.description == "raced"
    assert updated.sync_status == pb.JOB_STATUS_RUNNING  # the job still runs
    world.emulator.faults.configure({"latency_ms": 0})
    done = world.wait(sync.id, "sync_status")
    assert done.sync_status == pb.JOB_STATUS_SUCCEEDED and done.description == "raced"
    assert done.etag == updated.etag  # the job's end is no setting either

    # Every message of the Watch stream shows a change a user can see: none is a renewal.
    shown = watched.stop()
    assert len(shown) >= 3  # as read, running, updated (and more)
    for before, after in pairwise(shown):
        assert visible(before) != visible(after), after
    # The sync's own log holds no renewal: its version counts only its own events.
    renewed = lease_renewals(server, sync.id)
    assert renewed >= 2
    events = server.app.recorder.select_events(UUID(sync.id))
    assert len(events) == done.version
    assert all("Lease" not in event.topic for event in events)
    audited = settled(audit_stub(channel), world.project_id, "secret_sync.updated")
    assert {e.event_type for e in audited if e.resource_id == sync.id} >= {
        "secret_sync.job_started",
        "secret_sync.job_succeeded",
    }
    assert not [e for e in audited if "lease" in e.event_type]


def test_an_update_with_an_etag_read_before_a_setting_changed_is_aborted(server, stub):
    created = stub.CreateSecretSync(create_request()).secret_sync
    changed = update(stub, created.id, ["description"], etag=created.etag, description="new")
    assert changed.etag != created.etag
    stale = api.UpdateSecretSyncRequest(
        id=created.id, etag=created.etag, update_mask=mask("is_enabled"), is_enabled=False
    )
    assert_error(fails(stub.UpdateSecretSync, stale), *ETAG_MISMATCH)
    assert stub.GetSecretSync(api.GetSecretSyncRequest(id=created.id)).secret_sync.is_enabled
