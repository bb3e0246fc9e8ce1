"""Disk full under a SQLite store (a small tmpfs made for the test): writes are refused
with RESOURCE_EXHAUSTED, never INTERNAL; once space is freed, everything catches up by
itself: the write made after freeing is readable at once, audit follows, health SERVING."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hanzo.kms.secretsync.v1 import audit_service_pb2 as audit_api
from hanzo.kms.secretsync.v1 import audit_service_pb2_grpc as audit_grpc
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from tests.conftest import create_request, new_project, start_server
from tests.faults.conftest import eventually
from tests.integration.sync_helpers import list_all

SIZE = "24m"


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mount)],
                          capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """A file taking every free byte of the disk."""
    filler = disk / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            with contextlib.suppress(OSError):  # ENOSPC: the disk is full at this size
                while os.write(descriptor, b"\0" * size):
                    pass
    finally:
        os.close(descriptor)
    return filler


def test_a_full_disk_refuses_writes_clearly_and_heals_when_space_returns(small_disk):
    server = start_server(f"sqlite:///{small_disk}/store.sqlite")
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
        stub = api_grpc.SecretSyncServiceStub(channel)
        project_id = new_project(channel)
        before = [stub.CreateSecretSync(create_request(
            project_id=project_id, name=f"before-{n}", is_enabled=False)).secret_sync
            for n in range(3)]

        filler = fill(small_disk)
        codes = []
        for n in range(200):  # SQLite may fit a few writes in pages it already has
            try:
                stub.CreateSecretSync(create_request(
                    project_id=project_id, name=f"full-{n}", is_enabled=False,
                    description="x" * 250, request_id=str(uuid.uuid4())))
            except grpc.RpcError as error:
                codes.append((error.code(), error.details()))
                if len(codes) >= 3:
                    break
        assert codes, "the disk never filled"
        assert {code for code, _ in codes} == {grpc.StatusCode.RESOURCE_EXHAUSTED}, codes
        assert all("disk is full" in details for _, details in codes)
        health = health_pb2_grpc.HealthStub(channel)
        eventually(lambda: health.Check(health_pb2.HealthCheckRequest()).status
                   == health_pb2.HealthCheckResponse.NOT_SERVING)

        filler.unlink()  # space freed: nobody else does anything
        after = stub.CreateSecretSync(create_request(
            project_id=project_id, name="after", is_enabled=False)).secret_sync
        assert stub.GetSecretSync(api.GetSecretSyncRequest(id=after.id)).secret_sync == after
        names = {s.name for s in list_all(stub, project_id=project_id)}
        assert {s.name for s in before} | {"after"} <= names  # every acknowledged write
        eventually(lambda: health.Check(health_pb2.HealthCheckRequest()).status
                   == health_pb2.HealthCheckResponse.SERVING)
        audit = audit_grpc.AuditServiceStub(channel)
        eventually(lambda: audit.ListAuditEvents(audit_api.ListAuditEventsRequest(
            project_id=project_id, resource_id=after.id)).events)
        channel.close()
    finally:
        server.stop(grace=1.0)
