"""`sync watch` and `audit follow` outlive the server's maximum stream lifetime: when the
server ends a stream (UNAVAILABLE, STREAM_LIFETIME_REACHED) they reconnect and resume
from their last position, showing every change once: no gap, no duplicate."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import field_mask_pb2
from hanzo.kms.secretsync.v1 import audit_pb2
from hanzo.kms.secretsync.v1 import audit_service_pb2 as audit_api
from hanzo.kms.secretsync.v1 import audit_service_pb2_grpc as audit_grpc
from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from service.runtime.metrics import SHARED
from tests.cli.conftest import PYTHON, REPO
from tests.conftest import create_request, new_project, start_server

LIFETIME = 0.7  # seconds: every few changes below span a reconnect
CHANGES = 8


@pytest.fixture
def short_lived(tmp_path) -> Iterator[str]:
    server = start_server(f"sqlite:///{tmp_path}/store.sqlite", max_stream_seconds=LIFETIME)
    try:
        yield f"127.0.0.1:{server.port}"
    finally:
        server.stop(grace=1.0)


class Lines:
    """A CLI subprocess whose stdout lines are read on a thread."""

    def __init__(self, target: str, *args: str) -> None:
        self.process = subprocess.Popen(
            [str(PYTHON), "-m", "service", *args, "--output", "json"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "SECRET_SYNC_TARGET": target},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            self.lines.put(line)

    def next(self, timeout: float = 20.0) -> dict:
        try:
            return json.loads(self.lines.get(timeout=timeout))
        except queue.Empty:
            raise AssertionError(
                f"no line within {timeout}s; stderr: {self.stop()}"
            ) from None

    def stop(self) -> str:
        self.process.terminate()
        _, err = self.process.communicate(timeout=10)
        return err


def ended_at_lifetime(method: str) -> float:
    """Streams of this method the server ended at their maximum lifetime (so far)."""
    labels = {"service": "hanzo.kms.secretsync.v1." + method.split("/")[0],
              "method": method.split("/")[1], "code": "UNAVAILABLE"}
    return SHARED.get_sample_value("secretsync_rpc_handled_total", labels) or 0.0


def test_audit_follow_resumes_after_its_last_position(short_lived):
    ended_before = ended_at_lifetime("AuditService/StreamAuditEvents")
    with grpc.insecure_channel(short_lived) as channel:
        project_id = new_project(channel)
        follow = Lines(short_lived, "audit", "follow", "--project", project_id)
        sources = sgrpc.SecretSourceServiceStub(channel)
        followed: list[int] = []
        try:
            for index in range(CHANGES):
                sources.SetSecret(sapi.SetSecretRequest(
                    project_id=project_id, environment="dev", path="/my-secrets",
                    secret=spb.Secret(key=f"K{index}", value="v"),
                ))
                time.sleep(LIFETIME / 2)  # writes spread over several stream lifetimes
            expected = _positions(channel, project_id)
            while len(followed) < len(expected):
                followed.append(int(follow.next()["position"]))
        finally:
            err = follow.stop()
    assert followed == expected, err  # every event once, in order
    assert "error" not in err.lower()
    assert ended_at_lifetime("AuditService/StreamAuditEvents") - ended_before >= 2


def test_sync_watch_resumes_showing_each_version_once(short_lived):
    ended_before = ended_at_lifetime("SecretSyncService/WatchSecretSync")
    with grpc.insecure_channel(short_lived) as channel:
        project_id = new_project(channel)
        syncs = api_grpc.SecretSyncServiceStub(channel)
        sync = syncs.CreateSecretSync(
            create_request(project_id=project_id, is_enabled=False)
        ).secret_sync
        watch = Lines(short_lived, "sync", "watch", sync.id)
        try:
            versions = [int(watch.next()["secret_sync"]["version"])]
            assert versions == [sync.version]
            for index in range(CHANGES):
                time.sleep(LIFETIME / 2)
                sync = syncs.UpdateSecretSync(api.UpdateSecretSyncRequest(
                    id=sync.id, etag=sync.etag, description=f"change {index}",
                    update_mask=field_mask_pb2.FieldMask(paths=["description"]),
                )).secret_sync
                versions.append(int(watch.next()["secret_sync"]["version"]))
            time.sleep(LIFETIME * 2)  # reconnects with nothing new: nothing printed
            syncs.DeleteSecretSync(api.DeleteSecretSyncRequest(id=sync.id))
            last = watch.next()
            assert last["deleted"] is True
            assert watch.process.wait(timeout=20) == 1  # a deleted sync's job never finishes
        finally:
            watch.stop()
        assert versions == sorted(set(versions)) and len(versions) == CHANGES + 1
    assert ended_at_lifetime("SecretSyncService/WatchSecretSync") - ended_before >= 2


def _positions(channel: grpc.Channel, project_id: str) -> list[int]:
    stub = audit_grpc.AuditServiceStub(channel)
    request = audit_api.ListAuditEventsRequest(
        project_id=project_id, order=audit_pb2.AUDIT_ORDER_OLDEST_FIRST, page_size=500
    )
    for _ in range(100):  # the audit view follows the store: wait for the last write
        events = stub.ListAuditEvents(request).events
        if sum(e.event_type == "secret.set" for e in events) == CHANGES:
            return [e.position for e in events]
        time.sleep(0.1)
    raise AssertionError("the audit never showed every write")


