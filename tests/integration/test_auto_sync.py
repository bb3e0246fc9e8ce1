"""Auto-sync: a change to a folder requests a sync on every enabled sync that reads
it (directly, through imports, through references), one request per burst, one
follow-up per running job, and nothing lost across a restart.

There is no job worker yet: tests move a sync's job along through the application
itself, as the worker will (`start_job` / `succeed_job`).
"""

from __future__ import annotations

import gc
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import grpc
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from domain.options import JobKind
from domain.secret_sync import SecretSync
from service.jobs.auto_sync import AUTO_SYNC_ACTOR
from service.server import SecretSyncServer
from tests.conftest import create_request, start_server
from tests.integration.test_source_api import (
    Source,
    auto_sync_idle,
    poll,
    release_stopped_servers,  # noqa: F401
)


def requests_of(server: SecretSyncServer, sync_id: str) -> list[SecretSync.SyncRequested]:
    """The SyncRequested events of a sync, from the event store."""
    return [
        e for e in server.app.events.get(UUID(sync_id)) if isinstance(e, SecretSync.SyncRequested)
    ]


def new_sync(stub, project_id: str, name: str, path: str, enabled: bool = True) -> str:
    sync = stub.CreateSecretSync(
        create_request(project_id=project_id, name=name, secret_path=path, is_enabled=enabled)
    ).secret_sync
    return sync.id


def run_job(server: SecretSyncServer, sync_id: str, *, finish: bool = True) -> str:
    """What the worker will do: start the pending sync job and (finish) succeed it."""
    auto_sync_idle(server)  # so that auto-sync is not writing the same sync right now
    sync = server.app.get_sync(sync_id)
    job_id = sync.job(JobKind.SYNC)["job_id"]
    sync.start_job(JobKind.SYNC, job_id, "test-worker", datetime.now(UTC), timedelta(minutes=5))
    if finish:
        sync.succeed_job(JobKind.SYNC, job_id, "synced", {"written": 1})
    server.app.save(sync)
    return job_id


def succeed(server: SecretSyncServer, sync_id: str, job_id: str) -> None:
    sync = server.app.get_sync(sync_id)
    sync.succeed_job(JobKind.SYNC, job_id, "synced", {})
    server.app.save(sync)


def view_of(stub, sync_id: str) -> pb.SecretSync:
    return stub.GetSecretSync(api.GetSecretSyncRequest(id=sync_id)).secret_sync


def wait_for_requests(
    server: SecretSyncServer, stub, sync_id: str, count: int, timeout: float = 5.0
) -> str:
    """Wait until the sync has `count` sync requests; the last is auto-sync's, pending."""
    found = poll(lambda: requests_of(server, sync_id), lambda r: len(r) >= count, timeout)
    assert len(found) == count
    last = found[-1]
    assert (last.reason, last.actor) == ("auto", AUTO_SYNC_ACTOR)
    shown = poll(lambda: view_of(stub, sync_id), lambda s: s.last_sync_job_id == last.job_id)
    assert shown.sync_status == pb.JOB_STATUS_PENDING
    return last.job_id


def counts(server: SecretSyncServer, syncs: dict[str, str]) -> dict[str, int]:
    return {name: len(requests_of(server, sync_id)) for name, sync_id in syncs.items()}


def test_a_change_requests_a_sync_on_every_sync_reading_the_folder(server, stub, channel):
    source = Source(channel, folders=("/base", "/lib", "/app", "/ref", "/cfg", "/other"))
    source.set("/base", "X", "0")
    source.imp("/lib", "/base")
    source.imp("/app", "/lib")  # /app reads /base two imports away
    source.set("/ref", "TOKEN", "t0")
    source.set("/cfg", "DSN", "db://${dev.ref.TOKEN}@host")  # /cfg reads /ref by reference
    pid = source.project_id
    syncs = {
        "direct": new_sync(stub, pid, "direct", "/base"),
        "one-import": new_sync(stub, pid, "one-import", "/lib"),
        "two-imports": new_sync(stub, pid, "two-imports", "/app"),
        "by-reference": new_sync(stub, pid, "by-reference", "/cfg"),
        "unrelated": new_sync(stub, pid, "unrelated", "/other"),
        "disabled": new_sync(stub, pid, "disabled", "/base", enabled=False),
    }
    enabled = [name for name in syncs if name != "disabled"]
    for name in enabled:
        run_job(server, syncs[name])
    before = counts(server, syncs)
    assert before == {**dict.fromkeys(enabled, 1), "disabled": 0}  # "created" only

    source.set("/base", "X", "1")
    readers = ["direct", "one-import", "two-imports"]
    for name in readers:
        wait_for_requests(server, stub, syncs[name], before[name] + 1)
    auto_sync_idle(server)
    after = counts(server, syncs)
    assert after == {**before, **{name: before[name] + 1 for name in readers}}
    disabled = view_of(stub, syncs["disabled"])
    assert (disabled.sync_status, disabled.last_sync_job_id) == (pb.JOB_STATUS_UNSPECIFIED, "")
    assert view_of(stub, syncs["unrelated"]).sync_status == pb.JOB_STATUS_SUCCEEDED

    # A referenced key changes: the referring folder's sync, and only it.
    for name in readers:
        run_job(server, syncs[name])
    before = counts(server, syncs)
    source.set("/ref", "TOKEN", "t1")
    wait_for_requests(server, stub, syncs["by-reference"], before["by-reference"] + 1)
    auto_sync_idle(server)
    assert counts(server, syncs) == {**before, "by-reference": before["by-reference"] + 1}

    # Deleting a secret is a change too.
    run_job(server, syncs["by-reference"])
    before = counts(server, syncs)
    source.delete("/base", "X")
    for name in readers:
        wait_for_requests(server, stub, syncs[name], before[name] + 1)
    auto_sync_idle(server)
    assert counts(server, syncs) == {**before, **{name: before[name] + 1 for name in readers}}


def test_a_burst_of_changes_yields_one_request(server, stub, channel):
    source = Source(channel)
    sync_id = new_sync(stub, source.project_id, "burst", "/my-secrets")
    run_job(server, sync_id)
    poll(lambda: view_of(stub, sync_id).sync_status, lambda s: s == pb.JOB_STATUS_SUCCEEDED)
    for i in range(100):
        source.set("/my-secrets", f"KEY_{i % 10}", f"value-{i}")
    job_id = wait_for_requests(server, stub, sync_id, 2)
    auto_sync_idle(server)
    assert len(requests_of(server, sync_id)) == 2  # "created", then one for the burst
    shown = view_of(stub, sync_id)
    assert (shown.sync_status, shown.last_sync_job_id) == (pb.JOB_STATUS_PENDING, job_id)


def test_a_change_while_a_job_runs_yields_exactly_one_follow_up(server, stub, channel):
    source = Source(channel)
    sync_id = new_sync(stub, source.project_id, "running", "/my-secrets")
    running = run_job(server, sync_id, finish=False)
    poll(lambda: view_of(stub, sync_id).sync_status, lambda s: s == pb.JOB_STATUS_RUNNING)

    source.set("/my-secrets", "A", "1")
    follow_up = wait_for_requests(server, stub, sync_id, 2)
    assert follow_up != running
    for value in ("2", "3", "4"):  # separate batches, each finding the follow-up pending
        source.set("/my-secrets", "A", value)
        auto_sync_idle(server)
    assert len(requests_of(server, sync_id)) == 2

    # The worker finishes the run it had; the follow-up stays requested.
    succeed(server, sync_id, running)
    shown = poll(lambda: view_of(stub, sync_id), lambda s: s.last_sync_message == "synced")
    assert (shown.sync_status, shown.last_sync_job_id) == (pb.JOB_STATUS_PENDING, follow_up)

    # Once the follow-up has run, the next change is requested again.
    assert run_job(server, sync_id) == follow_up
    source.set("/my-secrets", "A", "5")
    wait_for_requests(server, stub, sync_id, 3)


def test_imports_added_and_removed_request_syncs(server, stub, channel):
    source = Source(channel, folders=("/app", "/lib"))
    sync_id = new_sync(stub, source.project_id, "importer", "/app")
    run_job(server, sync_id)

    added = source.imp("/app", "/lib")
    wait_for_requests(server, stub, sync_id, 2)
    run_job(server, sync_id)
    source.set("/lib", "SHARED", "1")  # now read through the import
    wait_for_requests(server, stub, sync_id, 3)
    run_job(server, sync_id)
    source.unimport("/app", added.id)
    wait_for_requests(server, stub, sync_id, 4)
    run_job(server, sync_id)
    source.set("/lib", "SHARED", "2")  # no longer read
    auto_sync_idle(server)
    assert len(requests_of(server, sync_id)) == 4

    # Deleting an imported folder changes what the importer resolves to.
    source.imp("/app", "/lib")
    wait_for_requests(server, stub, sync_id, 5)
    run_job(server, sync_id)
    source.rmdir("/lib")
    wait_for_requests(server, stub, sync_id, 6)
    assert view_of(stub, sync_id).source_problem == ""  # its own folder is fine


class Restarts:
    """One server at a time on the same store, as a process restarted.

    A stopped server is dropped (and collected) before the next starts: a stopped
    server still holds store connections until collected (see
    test_a_stopped_server_holds_no_store_connections), and PostgreSQL's connection
    limit is shared with everyone using it.
    """

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.server: SecretSyncServer | None = None
        self.channel: grpc.Channel | None = None
        self.project_id = ""

    def start(self) -> tuple[Source, api_grpc.SecretSyncServiceStub]:
        self.stop()
        self.server = start_server(self.database_url)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.server.port}")
        source = Source(self.channel, project_id=self.project_id)
        self.project_id = source.project_id
        return source, api_grpc.SecretSyncServiceStub(self.channel)

    @property
    def current(self) -> SecretSyncServer:
        assert self.server is not None
        return self.server

    def stop(self) -> None:
        if self.channel is not None:
            self.channel.close()
        if self.server is not None:
            self.server.stop(grace=0.5)
        self.server = self.channel = None
        gc.collect()


def test_auto_sync_carries_on_after_a_clean_restart(database_url):
    run = Restarts(database_url)
    try:
        source, stub = run.start()
        sync_id = new_sync(stub, source.project_id, "restarted", "/my-secrets")
        run_job(run.current, sync_id)
        source.set("/my-secrets", "A", "1")
        wait_for_requests(run.current, stub, sync_id, 2)
        run_job(run.current, sync_id)

        source, stub = run.start()
        auto_sync_idle(run.current)
        assert len(requests_of(run.current, sync_id)) == 2  # nothing acted on twice
        source.set("/my-secrets", "A", "2")
        wait_for_requests(run.current, stub, sync_id, 3)
        assert not run.current.projection_failed
    finally:
        run.stop()


def test_changes_just_before_a_stop_are_acted_on_after_restart(database_url):
    run = Restarts(database_url)
    try:
        source, stub = run.start()
        sync_id = new_sync(stub, source.project_id, "restarted", "/my-secrets")
        run_job(run.current, sync_id)
        # The process "dies" after recording a change, before auto-sync acts on it.
        run.current.auto_sync.stop()
        source.set("/my-secrets", "A", "1")
        poll(lambda: set(run.current.auto_sync.changes.changed), bool)  # seen, not acted on
        assert len(requests_of(run.current, sync_id)) == 1

        source, stub = run.start()
        wait_for_requests(run.current, stub, sync_id, 2, timeout=3.0)
        auto_sync_idle(run.current)
        assert len(requests_of(run.current, sync_id)) == 2
        assert not run.current.projection_failed

        # A plain stop right after a change: acted on before or after, exactly once.
        run_job(run.current, sync_id)
        source.set("/my-secrets", "A", "2")
        source, stub = run.start()
        wait_for_requests(run.current, stub, sync_id, 3)
        auto_sync_idle(run.current)
        assert len(requests_of(run.current, sync_id)) == 3
        assert not run.current.projection_failed
    finally:
        run.stop()


def store_connections(database_url: str) -> int:
    """Open handles of this process on the store: SQLite files, or PostgreSQL sockets."""
    handles = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            handles.append(os.readlink(fd))
        except OSError:
            continue
    if database_url.startswith("sqlite"):
        folder = str(Path(database_url.removeprefix("sqlite:///")).parent)
        return sum(1 for h in handles if h.startswith(folder + "/"))
    sockets = {h[len("socket:[") : -1] for h in handles if h.startswith("socket:[")}
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == 5432 and fields[9] in sockets:
                count += 1
    return count


def test_a_stopped_server_holds_no_store_connections(database_url):
    gc.collect()  # servers of earlier tests
    before = store_connections(database_url)
    server = start_server(database_url)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            source = Source(channel)
            source.set("/my-secrets", "A", "1")
            auto_sync_idle(server)
        assert store_connections(database_url) > before  # it does use the store
    finally:
        server.stop(grace=0.5)
    assert store_connections(database_url) == before
