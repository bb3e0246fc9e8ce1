"""Files and directories the service makes for its store are its own: 0700 directories,
0600 database files (and SQLite's -wal and -shm, which take the database's mode)."""

from __future__ import annotations

import stat

import grpc
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc

from tests.conftest import start_server


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_store_directories_and_files_are_private(tmp_path):
    data = tmp_path / "data" / "deeper"
    server = start_server(f"sqlite:///{data}/store.sqlite")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            sgrpc.SecretSourceServiceStub(channel).CreateProject(
                sapi.CreateProjectRequest(name="P", slug="modes")
            )
        made = sorted(data.iterdir())
        assert {p.name for p in made} >= {"store.sqlite", "store.sqlite-wal"}
        for path in made:
            assert mode(path) == 0o600, (path.name, oct(mode(path)))
        for directory in (tmp_path / "data", data):
            assert mode(directory) == 0o700, (directory, oct(mode(directory)))
    finally:
        server.stop(grace=1.0)
