"""The event store encrypted at rest, and root-key rotation while the service serves.

Every test runs on SQLite and PostgreSQL. The raw store is read as
tests/integration/test_canary.py reads it: every file, or every row of every table.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import grpc
import pytest
from hanzo.kms.secretsync.v1 import azure_connection_pb2 as cpb
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2 as capi
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2_grpc as cgrpc
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi

from adapters.envelope import RootKey, RootKeyError
from adapters.store_cipher import MAGIC, LegacyStoreError
from adapters.store_key import load_store_key
from service.app.call_context import CallContext
from service.app.rotation import rotate_root_key
from service.app.secret_sources import SecretSources
from service.runtime.config import Config
from service.runtime.store_encryption import derived_store_key, event_store_env
from service.server import SecretSyncServer
from tests.conftest import TEST_ROOT_KEY, start_server
from tests.integration.test_canary import leaks, raw_store, store_tables
from tests.integration.test_connections import (  # noqa: F401 - fixtures
    emulated,
    emulator_connection,
    kv,
    validate,
)
from tests.integration.test_source_api import (  # noqa: F401 - a fixture
    Source,
    poll,
    release_stopped_servers,
)

REPO = Path(__file__).resolve().parents[2]


def new_key() -> str:
    return RootKey.generate_text()


def event_states(database_url: str) -> list[bytes]:
    """The stored state of every event and snapshot (not the views' rows)."""
    states = []
    for name, rows in store_tables(database_url).items():
        if name.startswith("audit") or not name.endswith(("_events", "_snapshots")):
            continue
        states += [bytes(v) for row in rows for v in row if isinstance(v, bytes | memoryview)]
    return states


def audit_types(server: SecretSyncServer) -> set[str]:
    return {row.event_type for row in server.audit.view.rows()}


# --- the store holds no plaintext event ------------------------------------------------


def test_event_payloads_never_reach_the_store_in_plain_text(database_url):
    comment, description = "COMMENT-" + uuid.uuid4().hex, "DESCRIBED-" + uuid.uuid4().hex
    root_key = new_key()
    server = start_server(database_url, root_key=root_key, managed_identities="*=system")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            source = Source(channel, folders=("/app",))
            for version in range(55):  # enough for the folder to be snapshotted
                source.set("/app", "KEY", f"value-{version}", comment=f"{comment}-{version}")
            made = cgrpc.AzureConnectionServiceStub(channel).CreateAzureConnection(
                capi.CreateAzureConnectionRequest(
                    project_id=source.project_id,
                    name="described",
                    description=description,
                    cloud=cpb.AZURE_CLOUD_PUBLIC,
                    managed_identity_auth=cpb.ManagedIdentityAuth(),
                )
            ).connection
            # The audit view is plain text by design (docs/keys.md): the control.
            poll(lambda: audit_types(server), lambda types: "connection.created" in types)
    finally:
        server.stop(grace=1.0)

    states = event_states(database_url)
    assert len(states) > 55 and all(state.startswith(MAGIC) for state in states)
    assert any("snapshot" in name and rows for name, rows in store_tables(database_url).items())
    stored = raw_store(database_url)
    assert b"connection.created" in stored, "the scan does not see what the store holds"
    assert not leaks(comment, stored)
    assert not leaks(description, stored)

    again = start_server(database_url, root_key=root_key)  # same key: all readable
    try:
        with grpc.insecure_channel(f"127.0.0.1:{again.port}") as channel:
            source = Source(channel, project_id=source.project_id)
            got = source.get("/app", "KEY")
            assert (got.value, got.comment) == ("value-54", f"{comment}-54")
            assert source.get("/app", "KEY", version=3).comment == f"{comment}-2"  # 1-based
            connection = cgrpc.AzureConnectionServiceStub(channel).GetAzureConnection(
                capi.GetAzureConnectionRequest(connection_id=made.id)
            ).connection
            assert connection.description == description
    finally:
        again.stop(grace=1.0)


def test_replicas_starting_together_agree_on_one_store_key(database_url):
    root_key = RootKey.from_text(new_key())
    env = Config(database_url=database_url).persistence_env()
    keys: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: keys.append(load_store_key(env, root_key)))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 6 and len(set(keys)) == 1


# --- stores and keys that cannot be used ------------------------------------------------


def service_process(
    database_url: str, command: str = "serve", **env: str
) -> subprocess.CompletedProcess[str]:
    """`python -m service <command>` as an operator runs it; it must stop by itself."""
    settings = {
        **os.environ,
        "SECRET_SYNC_DATABASE_URL": database_url,
        "SECRET_SYNC_LISTEN": "127.0.0.1:0",
        "SECRET_SYNC_METRICS_LISTEN": "off",
        "SECRET_SYNC_DEV_MODE": "1",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "service", command],
        cwd=REPO,
        env=settings,
        capture_output=True,
        text=True,
        timeout=60,
    )


def request_fingerprint_key(server: SecretSyncServer) -> bytes:
    """The key a server's idempotency fingerprints are made with (as bootstrap derives it)."""
    return derived_store_key(server.app.env, "request-fingerprints")


def write_unencrypted_project(database_url: str) -> None:
    """What an older version left: events stored as plain JSON."""
    env = Config(database_url=database_url).persistence_env()
    sources = SecretSources(env=env, root_key=RootKey.from_text(new_key()))
    try:
        sources.create_project("Old", "old-" + uuid.uuid4().hex[:8], CallContext("a", "r"))
    finally:
        sources.close()


def test_an_unencrypted_store_is_refused_with_advice(database_url):
    write_unencrypted_project(database_url)
    with pytest.raises(LegacyStoreError) as raised:
        start_server(database_url)
    message = str(raised.value)
    assert "unencrypted" in message and "new database" in message
    if database_url.startswith("sqlite"):
        assert "delete" in message and "store.sqlite" in message
        ran = service_process(database_url, SECRET_SYNC_ROOT_KEY=TEST_ROOT_KEY)
        assert ran.returncode == 2, ran.stderr
        assert "cannot start" in ran.stderr and "unencrypted" in ran.stderr
        assert "Traceback" not in ran.stderr


def test_a_server_with_the_wrong_root_key_refuses_to_start(database_url):
    right, wrong = new_key(), new_key()
    start_server(database_url, root_key=right).stop(grace=1.0)
    with pytest.raises(RootKeyError) as raised:
        start_server(database_url, root_key=wrong)
    message = str(raised.value)
    assert RootKey.from_text(right).key_id in message  # names the key it needs, by id
    assert right not in message and wrong not in message
    if database_url.startswith("sqlite"):
        ran = service_process(database_url, SECRET_SYNC_ROOT_KEY=wrong)
        assert ran.returncode == 2, ran.stderr
        assert "cannot start" in ran.stderr and "not configured" in ran.stderr
        assert "Traceback" not in ran.stderr
        assert right not in ran.stderr + ran.stdout and wrong not in ran.stderr + ran.stdout


# --- rotation while serving ---------------------------------------------------------------


class Writer(threading.Thread):
    """A client that keeps writing secrets and environments (Project events, which race
    with the rotation's) and reading them back, until stopped."""

    def __init__(self, target: str, project_id: str) -> None:
        super().__init__(daemon=True)
        self.target, self.project_id = target, project_id
        self.written: dict[str, str] = {}
        self.errors: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        with grpc.insecure_channel(self.target) as channel:
            source = Source(channel, project_id=self.project_id)
            while not self.stopping.is_set():
                self.step(source, len(self.written))

    def step(self, source: Source, n: int) -> None:
        key, value = f"W{n}", f"written-{n}-{uuid.uuid4().hex}"
        try:
            source.set("/app", key, value)
            if n % 3 == 0:
                source.env(f"e{n}")
            self.written[key] = value
            if source.get("/app", key).value != value:
                self.errors.append(f"{key} read back wrong")
        except grpc.RpcError as error:
            self.errors.append(f"{key}: {error.code()} {error.details()}")

    def wait_for(self, count: int) -> None:
        poll(lambda: len(self.written), lambda n: n >= count or bool(self.errors), 30)


def test_rotation_while_serving_then_only_the_new_key_reads_everything(
    database_url,
    emulated,  # noqa: F811 - the fixture
):
    old, new = new_key(), new_key()
    first = start_server(database_url, root_key=old)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{first.port}") as channel:
            source = Source(channel, folders=("/app",))
            source.set("/app", "BEFORE", "written-under-the-old-key")
            connections = cgrpc.AzureConnectionServiceStub(channel)
            connection_id = emulator_connection(connections, emulated)
        fingerprint_key = request_fingerprint_key(first)
    finally:
        first.stop(grace=1.0)

    # 1) Restarted with the new key as primary, the old one still readable.
    both = start_server(database_url, root_key=new, old_root_keys=f" {old} ,")
    # Retried calls are recognised by every replica, whichever key is its primary.
    assert request_fingerprint_key(both) == fingerprint_key
    writer = Writer(f"127.0.0.1:{both.port}", source.project_id)
    config = Config(database_url=database_url, root_key=new, old_root_keys=old)
    try:
        writer.start()
        writer.wait_for(3)
        # 2) rotate-root-key, while the writer goes on.
        progress = io.StringIO()
        rotation = rotate_root_key(config, out=progress)
        writer.wait_for(len(writer.written) + 3)  # and it goes on after
    finally:
        writer.stopping.set()
        writer.join(30)
        both.stop(grace=1.0)
    assert not writer.errors, writer.errors
    # One project; its connection from Source() and the emulated one.
    assert (rotation.store_key, rotation.projects, rotation.connections) == (True, 1, 2)
    assert rotation.remaining == 0
    assert "0 item(s) still wrapped" in progress.getvalue()
    assert old not in progress.getvalue() and new not in progress.getvalue()
    again = rotate_root_key(config, out=io.StringIO())  # idempotent
    assert (again.projects, again.connections, again.store_key, again.remaining) == (0, 0, False, 0)

    # 3) Restarted without the old key: everything reads, the credentials still work.
    with pytest.raises(RootKeyError):
        start_server(database_url, root_key=old)
    last = start_server(database_url, root_key=new)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{last.port}") as channel:
            source = Source(channel, project_id=source.project_id)
            values = {s.key: s.value for s in source.list("/app", values=True)}
            assert values == {"BEFORE": "written-under-the-old-key", **writer.written}
            connections = cgrpc.AzureConnectionServiceStub(channel)
            assert validate(connections, connection_id, emulated.url).ok
        poll(lambda: audit_types(last), lambda t: "project.data_key_rewrapped" in t, 10)
        assert "connection.key_rewrapped" in audit_types(last)
    finally:
        last.stop(grace=1.0)


def test_rotation_needs_the_old_key_to_read_what_it_wrapped(database_url):
    old, new = new_key(), new_key()
    server = start_server(database_url, root_key=old)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            Source(channel).stub.CreateProject(sapi.CreateProjectRequest(name="X", slug="x"))
    finally:
        server.stop(grace=1.0)
    with pytest.raises(RootKeyError, match="not configured"):
        rotate_root_key(Config(database_url=database_url, root_key=new), out=io.StringIO())
    if database_url.startswith("sqlite"):  # the command, as an operator runs it
        ran = service_process(database_url, "rotate-root-key", SECRET_SYNC_ROOT_KEY=new)
        assert ran.returncode == 2 and "not configured" in ran.stderr, ran.stderr
        keys = {"SECRET_SYNC_ROOT_KEY": new, "SECRET_SYNC_OLD_ROOT_KEYS": old}
        ran = service_process(database_url, "rotate-root-key", **keys)
        assert ran.returncode == 0, ran.stderr
        assert "projects: 2 seen, 2 re-wrapped" in ran.stderr
        assert "0 item(s) still wrapped" in ran.stderr
        assert old not in ran.stderr + ran.stdout and new not in ran.stderr + ran.stdout
        server = start_server(database_url, root_key=new)  # the new key alone opens it
        server.stop(grace=1.0)
        return
    done = rotate_root_key(
        Config(database_url=database_url, root_key=new, old_root_keys=old), out=io.StringIO()
    )
    assert (done.projects, done.remaining) == (2, 0)


def test_a_rewrap_that_loses_a_race_with_a_write_is_retried(database_url):
    old, new = new_key(), new_key()
    config = Config(database_url=database_url, root_key=old)
    writer = SecretSources(env=event_store_env(config), root_key=config.load_root_key())
    project = writer.create_project("P", "p", CallContext("a", "r-1"))
    ring = Config(database_url=database_url, root_key=new, old_root_keys=old).load_root_key()
    rotator = SecretSources(env=event_store_env(config, ring), root_key=ring)
    loads = []
    real_get = rotator.repository.get

    def get_then_lose_the_race(aggregate_id, *args, **kwargs):  # type: ignore[no-untyped-def]
        loaded = real_get(aggregate_id, *args, **kwargs)
        loads.append(loaded.version)
        if len(loads) == 1:  # a server writes to the project meanwhile
            writer.create_environment(str(project.id), "dev", "Dev", CallContext("a", "r-2"))
        return loaded

    rotator.repository.get = get_then_lose_the_race  # type: ignore[method-assign]
    try:
        assert rotator.rewrap_data_key(project.id, CallContext("rotate-root-key", "r-3"))
        assert loads == [1, 2]  # the second try saw the environment
        now = writer.project(str(project.id))
        assert ring.is_primary(now.wrapped_data_key) and "dev" in now.environments
    finally:
        writer.close()
        rotator.close()
