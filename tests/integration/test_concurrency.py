"""Racing clients: names stay unique, etags let exactly one writer win, and a sync's
version always counts exactly the changes that were accepted."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api

from tests.conftest import create_request, event_count
from tests.integration.sync_helpers import (
    ERROR_DOMAIN,
    decode,
    event_types,
    get,
    get_by_name,
    mask,
)

RACERS = 20


def race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls at the same moment; each result is a response or a decoded Failure."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait(timeout=10)
        try:
            return call()
        except grpc.RpcError as error:
            return decode(error)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def split(results: list[Any]) -> tuple[list[Any], list[Any]]:
    failed = [r for r in results if hasattr(r, "reason")]
    return [r for r in results if not hasattr(r, "reason")], failed


def test_racing_creates_of_one_name_let_exactly_one_win(server, stub):
    project_id = create_request().project_id
    # What one uncontended create records, to compare with.
    before = event_count(server)
    stub.CreateSecretSync(create_request(name="warm-up"))
    one_create = event_count(server) - before

    before = event_count(server)
    requests = [create_request(name="contested", description=f"racer {i}") for i in range(RACERS)]
    results = race([lambda r=r: stub.CreateSecretSync(r, timeout=30) for r in requests])
    won, lost = split(results)

    assert len(won) == 1, results
    assert len(lost) == RACERS - 1
    for failure in lost:
        assert (failure.code, failure.reason, failure.domain) == (
            grpc.StatusCode.ALREADY_EXISTS,
            "NAME_TAKEN",
            ERROR_DOMAIN,
        ), failure
    winner = won[0].secret_sync
    assert get_by_name(stub, project_id, "contested") == winner == get(stub, winner.id)
    listed = stub.ListSecretSyncs(api.ListSecretSyncsRequest(project_id=project_id))
    assert sorted(s.name for s in listed.secret_syncs) == ["contested", "warm-up"]
    # The losers left nothing behind: exactly one create's worth of events.
    assert event_count(server) - before == one_create
    assert event_types(server, winner.id) == ["Created", "SyncRequested"]


def test_racing_updates_with_one_etag_let_exactly_one_win(server, stub):
    created = stub.CreateSecretSync(create_request()).secret_sync
    before = event_count(server)
    requests = [
        api.UpdateSecretSyncRequest(
            id=created.id,
            etag=created.etag,
            update_mask=mask("description"),
            description=f"writer {i}",
        )
        for i in range(RACERS)
    ]
    results = race([lambda r=r: stub.UpdateSecretSync(r, timeout=30) for r in requests])
    won, lost = split(results)

    assert len(won) == 1, results
    assert len(lost) == RACERS - 1
    for failure in lost:
        assert failure.code == grpc.StatusCode.ABORTED, failure
        assert failure.reason in ("ETAG_MISMATCH", "CONCURRENT_CHANGE"), failure
    winner = won[0].secret_sync
    now = get(stub, created.id)
    assert now == winner
    assert now.version == created.version + 1
    assert now.description.startswith("writer ")
    assert event_count(server) - before == 1
    assert event_types(server, created.id).count("Updated") == 1


def test_racing_updates_without_etag_each_count_once(server, stub):
    created = stub.CreateSecretSync(create_request()).secret_sync
    requests = [
        api.UpdateSecretSyncRequest(
            id=created.id, update_mask=mask("description"), description=f"writer {i}"
        )
        for i in range(RACERS)
    ]
    results = race([lambda r=r: stub.UpdateSecretSync(r, timeout=30) for r in requests])
    won, lost = split(results)

    assert won, results
    for failure in lost:
        assert (failure.code, failure.reason) == (grpc.StatusCode.ABORTED, "CONCURRENT_CHANGE")
    now = get(stub, created.id)
    # Every accepted change is one version; the last one stored is what Get shows.
    assert now.version == created.version + len(won)
    assert sorted(r.secret_sync.version for r in won) == list(
        range(created.version + 1, now.version + 1)
    )
    (latest,) = [r.secret_sync for r in won if r.secret_sync.version == now.version]
    assert now == latest
    assert event_types(server, created.id).count("Updated") == len(won)


def test_racing_triggers_each_request_one_job(server, stub):
    created = stub.CreateSecretSync(create_request()).secret_sync
    request = api.TriggerSecretSyncRequest(id=created.id)
    results = race([lambda: stub.TriggerSecretSync(request, timeout=30)] * RACERS)
    won, lost = split(results)

    assert won, results
    for failure in lost:
        assert (failure.code, failure.reason) == (grpc.StatusCode.ABORTED, "CONCURRENT_CHANGE")
    job_ids = [r.job_id for r in won]
    assert len(set(job_ids)) == len(won)
    now = get(stub, created.id)
    assert now.version == created.version + len(won)
    assert now.last_sync_job_id in job_ids
    assert now.last_sync_job_id == max(won, key=lambda r: r.secret_sync.version).job_id
    assert Counter(event_types(server, created.id))["SyncRequested"] == 1 + len(won)


def test_racing_renames_to_one_name_let_exactly_one_win(server, stub):
    project_id = create_request().project_id
    syncs = [
        stub.CreateSecretSync(create_request(name=f"racer-{i}")).secret_sync for i in range(RACERS)
    ]
    results = race(
        [
            lambda s=s: stub.UpdateSecretSync(
                api.UpdateSecretSyncRequest(id=s.id, update_mask=mask("name"), name="prize"),
                timeout=30,
            )
            for s in syncs
        ]
    )
    won, lost = split(results)

    assert len(won) == 1, results
    for failure in lost:
        assert (failure.code, failure.reason) in (
            (grpc.StatusCode.ALREADY_EXISTS, "NAME_TAKEN"),
            (grpc.StatusCode.ABORTED, "CONCURRENT_CHANGE"),
        ), failure
    winner = won[0].secret_sync
    assert get_by_name(stub, project_id, "prize") == winner
    listed = stub.ListSecretSyncs(api.ListSecretSyncsRequest(project_id=project_id))
    names = sorted(s.name for s in listed.secret_syncs)
    assert names.count("prize") == 1 and len(names) == RACERS
    # Each loser kept its name; the winner's old name is free again.
    for sync in syncs:
        if sync.id != winner.id:
            assert get(stub, sync.id) == sync
    freed = next(s.name for s in syncs if s.id == winner.id)
    assert stub.CreateSecretSync(create_request(name=freed)).secret_sync.name == freed
