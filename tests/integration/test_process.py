"""The real command, `python -m service serve`, as a separate process on SQLite.

A client is generated from protos/ alone (grpc_tools.protoc into a temporary
directory) and run in its own interpreter with neither the repository nor gen/ on
its path: it proves the .proto files are the whole contract. Then a Watch stream is
left open, SIGTERM is sent, and the process must drain and exit 0 within its grace
period, having logged one line per call and no traceback.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from tests.integration.sync_helpers import SERVICE, Watch

REPO = Path(__file__).resolve().parents[2]
PYTHON = REPO / ".venv" / "bin" / "python"
GRACE_SECONDS = 5.0
HEALTH_METHOD = "/grpc.health.v1.Health/Check"
CALL_LINE = re.compile(r"\bmethod=(\S+) code=(\S+) duration_ms=(\d+(?:\.\d+)?)\b")

# The client, run as `python driver.py <generated dir> <target> <repo>`. It prints
# one JSON object: the calls it made per method, and the id of a sync it keeps.
DRIVER = r"""
import collections, json, sys, uuid

generated, target, repo = sys.argv[1:4]
# Only the generated code: drop the repository and gen/ (the venv's .pth adds gen/).
import os
hidden = {os.path.realpath(repo), os.path.realpath(os.path.join(repo, "gen"))}
sys.path[:] = [generated] + [p for p in sys.path if p and os.path.realpath(p) not in hidden]

import grpc
from google.protobuf.field_mask_pb2 import FieldMask
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from hanzo.kms.secretsync.v1 import azure_connection_pb2 as cpb
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2 as capi
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2_grpc as cgrpc
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

for module in (cpb, capi, cgrpc, sapi, sgrpc, pb, api, api_grpc):
    assert module.__file__.startswith(generated), module.__file__

calls = collections.Counter()
channel = grpc.insecure_channel(target)
source, stub = sgrpc.SecretSourceServiceStub(channel), api_grpc.SecretSyncServiceStub(channel)
clients = {
    "SecretSourceService": source,
    "SecretSyncService": stub,
    "AzureConnectionService": cgrpc.AzureConnectionServiceStub(channel),
}


def call(service, method, request, **kwargs):
    calls[f"/hanzo.kms.secretsync.v1.{service}/{method}"] += 1
    return getattr(clients[service], method)(request, timeout=10, **kwargs)


def fails(method, request):
    try:
        call("SecretSyncService", method, request)
    except grpc.RpcError as error:
        status = rpc_status.from_call(error)
        info = error_details_pb2.ErrorInfo()
        assert any(d.Unpack(info) for d in status.details)
        return error.code(), info.reason
    raise AssertionError(f"{method} did not fail")


project = call("SecretSourceService", "CreateProject", sapi.CreateProjectRequest(
    name="Process", slug="proc-" + uuid.uuid4().hex[:8])).project
call("SecretSourceService", "CreateEnvironment", sapi.CreateEnvironmentRequest(
    project_id=project.id, slug="dev", name="Dev"))
call("SecretSourceService", "CreateFolder", sapi.CreateFolderRequest(
    project_id=project.id, environment="dev", path="/app"))
connection = call("AzureConnectionService", "CreateAzureConnection",
    capi.CreateAzureConnectionRequest(
        project_id=project.id, name="prod", cloud=cpb.AZURE_CLOUD_PUBLIC,
        client_secret_auth=cpb.ClientSecretAuth(
            tenant_id=str(uuid.uuid4()), client_id=str(uuid.uuid4()), client_secret="s"),
    )).connection


def create(name):
    return call("SecretSyncService", "CreateSecretSync", api.CreateSecretSyncRequest(
        project_id=project.id, name=name, connection_id=connection.id, environment="dev",
        secret_path="/app/", is_enabled=True,
        sync_options=pb.SyncOptions(
            initial_sync_behavior=pb.INITIAL_SYNC_BEHAVIOR_OVERWRITE_DESTINATION),
        destination_config=pb.AzureKeyVaultDestinationConfig(
            vault_base_url="https://my-key-vault.vault.azure.net"),
    ), metadata=(("x-request-id", f"driver-{name}"),)).secret_sync


sync = create("from-protos")
assert sync.folder.path == "/app" and sync.sync_status == pb.JOB_STATUS_PENDING
kept = create("kept")
by_id = call("SecretSyncService", "GetSecretSync", api.GetSecretSyncRequest(id=sync.id))
by_name = call("SecretSyncService", "GetSecretSync", api.GetSecretSyncRequest(
    project_id=project.id, name="from-protos"))
assert by_id.secret_sync == by_name.secret_sync == sync
listed = call("SecretSyncService", "ListSecretSyncs", api.ListSecretSyncsRequest(
    project_id=project.id, page_size=1))
assert [s.name for s in listed.secret_syncs] == ["from-protos"] and listed.next_page_token
updated = call("SecretSyncService", "UpdateSecretSync", api.UpdateSecretSyncRequest(
    id=sync.id, etag=sync.etag, update_mask=FieldMask(paths=["description"]),
    description="changed by a client generated from protos/")).secret_sync
assert updated.version == sync.version + 1 and updated.etag != sync.etag
triggered = call("SecretSyncService", "TriggerSecretSync",
                 api.TriggerSecretSyncRequest(id=sync.id))
assert triggered.secret_sync.last_sync_job_id == triggered.job_id != sync.last_sync_job_id
assert triggered.secret_sync.sync_status == pb.JOB_STATUS_PENDING

calls["/hanzo.kms.secretsync.v1.SecretSyncService/WatchSecretSync"] += 1
stream = stub.WatchSecretSync(api.WatchSecretSyncRequest(id=sync.id), timeout=10)
first = next(stream)
assert first.secret_sync == triggered.secret_sync and not first.deleted
stream.cancel()

assert fails("GetSecretSync", api.GetSecretSyncRequest(id=str(uuid.uuid4()))) == (
    grpc.StatusCode.NOT_FOUND, "SECRET_SYNC_NOT_FOUND")
deleted = call("SecretSyncService", "DeleteSecretSync", api.DeleteSecretSyncRequest(
    id=sync.id, etag=triggered.secret_sync.etag))
assert deleted.deleted
assert fails("GetSecretSync", api.GetSecretSyncRequest(id=sync.id)) == (
    grpc.StatusCode.NOT_FOUND, "SECRET_SYNC_NOT_FOUND")
channel.close()
print(json.dumps({"calls": calls, "kept": kept.id}))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class ServiceProcess:
    process: subprocess.Popen[bytes]
    target: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def service_process(tmp_path: Path) -> Iterator[ServiceProcess]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "gen")]),
        "SECRET_SYNC_ROOT_KEY_FILE": str(tmp_path / "root.key"),  # not ./data of the repo
        # No vault here: the driver compares states, so requested jobs must stay pending.
        "SECRET_SYNC_RUN_JOBS": "0",
        "SECRET_SYNC_GRACE_SECONDS": str(GRACE_SECONDS),
        "SECRET_SYNC_LOG_LEVEL": "INFO",
    }
    for name in ("SECRET_SYNC_ROOT_KEY", "SECRET_SYNC_DATABASE_URL", "SECRET_SYNC_LISTEN"):
        env.pop(name, None)
    log_path = tmp_path / "service.log"
    command = [
        str(PYTHON), "-m", "service", "serve",
        "--listen", f"127.0.0.1:{port}",
        "--database-url", f"sqlite:///{tmp_path}/s.sqlite",
        "--dev",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log
        )
    service = ServiceProcess(process, f"127.0.0.1:{port}", log_path)
    try:
        yield service
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


@pytest.fixture
def generated_client(tmp_path: Path) -> Path:
    """Python code generated from protos/ alone, in a fresh directory."""
    out = tmp_path / "generated"
    out.mkdir()
    protos = sorted(str(p.relative_to(REPO / "protos")) for p in (REPO / "protos").rglob("*.proto"))
    assert protos
    subprocess.run(
        [
            str(PYTHON), "-m", "grpc_tools.protoc", "-I", "protos",
            f"--python_out={out}", f"--grpc_python_out={out}", *protos,
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    package = out / "hanzo" / "kms" / "secretsync" / "v1"
    assert (package / "secret_sync_service_pb2_grpc.py").is_file()
    return out


def wait_until_serving(service: ServiceProcess, checks: Counter[str], timeout: float = 20.0):
    """Poll the health of the whole server and of the service; count answered checks."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(service.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", SERVICE):
            while True:
                assert service.process.poll() is None, f"the service exited:\n{service.log()}"
                try:
                    status = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=1)
                    checks[HEALTH_METHOD] += 1
                    if status.status == health_pb2.HealthCheckResponse.SERVING:
                        break
                except grpc.RpcError as error:
                    assert error.code() in (
                        grpc.StatusCode.UNAVAILABLE,  # not listening yet
                        grpc.StatusCode.DEADLINE_EXCEEDED,
                    ), error
                assert time.monotonic() < deadline, f"not SERVING in {timeout}s:\n{service.log()}"
                time.sleep(0.1)


def test_a_client_generated_from_protos_alone_drives_the_real_command(
    service_process, generated_client
):
    calls: Counter[str] = Counter()
    wait_until_serving(service_process, calls)

    driver = generated_client.parent / "driver.py"
    driver.write_text(DRIVER)
    ran = subprocess.run(
        [str(PYTHON), str(driver), str(generated_client), service_process.target, str(REPO)],
        cwd=generated_client.parent,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    calls.update(report["calls"])

    # A Watch stream is open when SIGTERM comes: the stream ends, the process drains
    # and exits 0 within its grace period.
    with grpc.insecure_channel(service_process.target) as channel:
        watch = Watch(api_grpc.SecretSyncServiceStub(channel), report["kept"], deadline=30.0)
        calls[f"/{SERVICE}/WatchSecretSync"] += 1
        first = watch.message()
        assert first.secret_sync.id == report["kept"]
        service_process.process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert service_process.process.wait(timeout=GRACE_SECONDS + 5.0) == 0
        assert time.monotonic() - started <= GRACE_SECONDS
        watch.ended(timeout=5.0)  # ended by the server, not cut off when the grace ran out

    log = service_process.log()
    assert "Traceback" not in log, log
    logged = [CALL_LINE.search(line) for line in log.splitlines()]
    lines = [match for match in logged if match]
    assert Counter(m.group(1) for m in lines) == calls, log  # one line per call
    codes = Counter((m.group(1).rsplit("/", 1)[-1], m.group(2)) for m in lines)
    assert codes[("GetSecretSync", "NOT_FOUND")] == 2, log
    assert codes[("CreateSecretSync", "OK")] == 2, log
    assert all(float(m.group(3)) >= 0 for m in lines)
    for name in ("from-protos", "kept"):  # the x-request-id metadata is logged
        (line,) = [x for x in log.splitlines() if f"request_id=driver-{name}" in x]
        assert "CreateSecretSync" in line
    assert "SIGTERM" in log
