"""A store written by an older version of the service still loads and serves.

tests/fixtures/main_store/ holds an event store made by the service before its read
model and job runs were redesigned (tests/fixtures/make_main_store.py): events of
every type, lease renewals recorded on the syncs themselves, a rotated root key, and
the answers the API gave then (expected.json). Opened by today's code, the syncs view
is rebuilt from those events (its table has other columns now), the audit trail is
replayed from zero, and every answer is the one given then - but for what changed on
purpose since (as_then): the etag, which now names the settings rather than the version,
and the connection's name, which is filled in now.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.json_format import MessageToDict
from hanzo.kms.secretsync.v1 import audit_service_pb2_grpc as audit_grpc
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from tests.audit.helpers import list_all, poll
from tests.conftest import start_server
from tests.integration.sync_helpers import mask

FIXTURE = Path(__file__).parent.parent / "fixtures" / "main_store"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text())
IDS = EXPECTED["ids"]
VERSIONS = {shown["id"]: int(shown["version"]) for shown in EXPECTED["syncs"].values()}
LISTED = [(sync_id, VERSIONS[sync_id]) for sync_id in EXPECTED["list"]]
AUDIT_TABLES = ("audit_events", "audit_resources", "audit_tracking")


@pytest.fixture
def old_store(tmp_path: Path) -> Iterator[grpc.Channel]:
    """A server on a copy of the fixture, its audit trail dropped to be replayed."""
    store = tmp_path / "store.sqlite"
    shutil.copy(FIXTURE / "store.sqlite", store)
    with sqlite3.connect(store) as db:
        for table in AUDIT_TABLES:
            db.execute(f"DROP TABLE {table}")
        assert "state" in {row[1] for row in db.execute("PRAGMA table_info(secret_syncs)")}
    root_key = (FIXTURE / "root.key").read_text().strip()
    server = start_server(f"sqlite:///{store}", root_key=root_key)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield channel
    finally:
        server.stop(grace=1.0)


def caught_up(syncs: api_grpc.SecretSyncServiceStub) -> list[Any]:
    """The project's syncs, once the view rebuilt from the old log shows them all (the
    server serves while its projection replays)."""
    request = api.ListSecretSyncsRequest(project_id=IDS["project"])
    return poll(
        lambda: list(syncs.ListSecretSyncs(request).secret_syncs),
        lambda listed: [(s.id, s.version) for s in listed] == LISTED,
        timeout=30,
    )


def as_then(shown: dict[str, Any]) -> dict[str, Any]:
    """An answer as it reads today, less what changed on purpose since the store was made:
    the etag (it names the settings now), and the connection's name (then never filled in,
    now always)."""
    then = {k: v for k, v in shown.items() if k != "etag"}
    if "connection" in then:
        then["connection"] = {k: v for k, v in then["connection"].items() if k != "name"}
    return then


def test_an_old_store_serves_the_syncs_it_served(old_store):
    syncs = api_grpc.SecretSyncServiceStub(old_store)
    listed = caught_up(syncs)
    assert [s.id for s in listed] == EXPECTED["list"]
    for name, expected in EXPECTED["syncs"].items():
        shown = syncs.GetSecretSync(api.GetSecretSyncRequest(id=IDS[name])).secret_sync
        assert MessageToDict(shown)["connection"]["name"] == "emulator"
        assert as_then(MessageToDict(shown)) == as_then(expected), name
    with pytest.raises(grpc.RpcError) as gone:
        syncs.GetSecretSync(api.GetSecretSyncRequest(id=IDS["deleted"]))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND


def entries(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    without_position = [{k: v for k, v in e.items() if k != "position"} for e in listed]
    return sorted(without_position, key=lambda e: (e["resourceId"], int(e["version"])))


def test_an_old_store_replays_its_audit_trail(old_store):
    stub = audit_grpc.AuditServiceStub(old_store)
    # The trail is replayed by one follower per application: wait for all of it.
    shown = poll(
        lambda: list_all(stub, project_id=IDS["project"]),
        lambda listed: len(listed) >= len(EXPECTED["audit"]),
        timeout=30,
    )
    # Positions are given as the trail is projected, applications side by side: a
    # replay may number them otherwise. Every entry is the same.
    assert entries([MessageToDict(e) for e in shown]) == entries(EXPECTED["audit"])
    assert "secret_sync.job_started" in {e.event_type for e in shown}


def test_an_old_sync_loads_and_takes_new_events(old_store):
    """Its history (lease renewals recorded on the sync) replays: versions, history
    reads, an update with the etag just read, a trigger."""
    syncs = api_grpc.SecretSyncServiceStub(old_store)
    caught_up(syncs)
    main = syncs.GetSecretSync(api.GetSecretSyncRequest(id=IDS["main"])).secret_sync
    first = syncs.GetSecretSync(api.GetSecretSyncRequest(id=main.id, as_of_version=1))
    assert first.secret_sync.description == "made for the main-store fixture"
    updated = syncs.UpdateSecretSync(
        api.UpdateSecretSyncRequest(
            id=main.id, etag=main.etag, update_mask=mask("description"), description="again"
        )
    ).secret_sync
    assert updated.version == main.version + 1 and updated.etag != main.etag
    triggered = syncs.TriggerSecretSync(api.TriggerSecretSyncRequest(id=main.id))
    assert triggered.secret_sync.version == updated.version + 1
    assert triggered.secret_sync.etag == updated.etag  # a job request is no setting
