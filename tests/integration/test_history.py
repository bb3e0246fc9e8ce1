"""GetSecretSync with as_of: a sync as it was, rebuilt from its events."""

from __future__ import annotations

import time
from uuid import UUID

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api

from tests.conftest import create_request
from tests.integration.sync_helpers import CALL_TIMEOUT, fails, update


def at(stub, sync_id: str, **as_of):
    request = api.GetSecretSyncRequest(id=sync_id, **as_of)
    return stub.GetSecretSync(request, timeout=CALL_TIMEOUT).secret_sync


def moment(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def test_each_version_and_moment_shows_the_sync_as_it_was(server, stub):
    created = stub.CreateSecretSync(create_request(description="first", is_enabled=False))
    sync = created.secret_sync
    time.sleep(0.05)
    between = time.time()
    time.sleep(0.05)
    second = update(stub, sync.id, ["description"], description="second")
    third = update(stub, sync.id, ["description"], description="third")

    assert at(stub, sync.id, as_of_version=1) == sync
    assert at(stub, sync.id, as_of_version=second.version) == second
    assert at(stub, sync.id, as_of_version=third.version).description == "third"
    assert at(stub, sync.id, as_of_time=moment(between)) == sync
    assert at(stub, sync.id, as_of_time=moment(time.time())) == third


def test_a_deleted_sync_keeps_its_history(server, stub):
    sync = stub.CreateSecretSync(create_request(is_enabled=False)).secret_sync
    before_delete = time.time()
    time.sleep(0.05)
    stub.DeleteSecretSync(api.DeleteSecretSyncRequest(id=sync.id))

    assert at(stub, sync.id, as_of_version=1) == sync
    assert at(stub, sync.id, as_of_time=moment(before_delete)) == sync
    gone = fails(stub.GetSecretSync, api.GetSecretSyncRequest(id=sync.id, as_of_version=2))
    assert gone.code == grpc.StatusCode.NOT_FOUND


def test_history_outside_the_sync_life_or_badly_asked_is_refused(server, stub):
    before = time.time() - 60
    sync = stub.CreateSecretSync(create_request(is_enabled=False)).secret_sync

    def refused(**as_of):
        return fails(stub.GetSecretSync, api.GetSecretSyncRequest(**as_of))

    assert refused(id=sync.id, as_of_time=moment(before)).code == grpc.StatusCode.NOT_FOUND
    for fields, field in [
        ({"id": sync.id, "as_of_version": 9}, "as_of_version"),
        ({"id": sync.id, "as_of_version": -1}, "as_of_version"),
        ({"id": sync.id, "as_of_time": moment(time.time() + 3600)}, "as_of_time"),
        ({"project_id": sync.project_id, "name": sync.name, "as_of_version": 1},
         "as_of_version"),
    ]:
        failure = refused(**fields)
        assert (failure.code, failure.fields) == (grpc.StatusCode.INVALID_ARGUMENT, [field])


def test_a_long_history_is_snapshotted_and_still_exact(server, stub):
    sync = stub.CreateSecretSync(create_request(is_enabled=False)).secret_sync
    for n in range(60):
        update(stub, sync.id, ["description"], description=f"change {n}")

    snapshots = list(server.app.snapshots.get(UUID(sync.id)))  # type: ignore[union-attr]
    assert [s.originator_version for s in snapshots] == [50]
    assert at(stub, sync.id, as_of_version=55).description == "change 53"
    assert at(stub, sync.id, as_of_version=10).description == "change 8"
    assert at(stub, sync.id).description == "change 59"
