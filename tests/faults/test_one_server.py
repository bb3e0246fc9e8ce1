"""One server per port always, and one per SQLite store: a second `serve` refuses to start
with one clear line and exit status 2, and the first serves on unharmed."""

from __future__ import annotations

from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from tests.conftest import create_request, new_project
from tests.faults.conftest import serve, serve_env


def refusal(second) -> str:
    assert second.process.wait(timeout=60) == 2
    lines = [line for line in second.output().splitlines() if line.strip()]
    assert len(lines) == 1, lines  # one clear line, no traceback
    return lines[0]


def unharmed(first) -> None:
    assert first.process.poll() is None
    assert first.serving()
    with first.channel() as channel:
        stub = api_grpc.SecretSyncServiceStub(channel)
        made = stub.CreateSecretSync(create_request(
            project_id=new_project(channel), is_enabled=False)).secret_sync
        assert stub.GetSecretSync(api.GetSecretSyncRequest(id=made.id)).secret_sync == made


def test_a_second_server_on_a_busy_port_refuses(tmp_path, processes):
    first = serve(serve_env(f"sqlite:///{tmp_path}/first.sqlite"), tmp_path / "first.log")
    processes.append(first)
    second = serve(serve_env(f"sqlite:///{tmp_path}/second.sqlite"), tmp_path / "second.log",
                   port=first.port, wait=False)
    processes.append(second)
    line = refusal(second)
    assert "cannot start" in line and f"127.0.0.1:{first.port}" in line and "in use" in line
    unharmed(first)


def test_a_second_server_on_the_same_sqlite_store_refuses(tmp_path, processes):
    url = f"sqlite:///{tmp_path}/store.sqlite"
    first = serve(serve_env(url), tmp_path / "first.log")
    processes.append(first)
    second = serve(serve_env(url), tmp_path / "second.log", wait=False)
    processes.append(second)
    line = refusal(second)
    assert "cannot start" in line and "store.sqlite is in use by another server" in line
    assert f"pid {first.process.pid}" in line
    unharmed(first)
