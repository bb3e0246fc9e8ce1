"""PostgreSQL restarted twice and stopped for 20 s, under a create/get load on two
replicas and a running sync: nothing acknowledged is lost, no call answers INTERNAL,
calls during the outage are refused with UNAVAILABLE, health returns to SERVING on both
replicas by itself, the vault converges, and auto-sync and audit work afterwards.

This restarts the machine's real PostgreSQL (other suites share it): the outages are
short, and the server is always started again in a `finally`.
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import grpc
import psycopg
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from hanzo.kms.secretsync.v1 import audit_service_pb2 as audit_api
from hanzo.kms.secretsync.v1 import audit_service_pb2_grpc as audit_grpc
from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from keyvault_emulator import KeyVaultEmulator
from tests.conftest import POSTGRES_ADMIN_URL, create_request, new_project, postgres_schema_url
from tests.emulator.conftest import emulator_connection
from tests.faults.conftest import Served, calls, eventually, serve, serve_env

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(600)]
SECRETS = 40
OUTAGE_SECONDS = 20
CLUSTER = ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main"]
RETRIED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
           grpc.StatusCode.ABORTED)  # ABORTED: the first call with that request_id still runs


def postgres(action: str) -> None:
    subprocess.run([*CLUSTER, action], check=True, capture_output=True, timeout=120)


def postgres_answers() -> bool:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=2) as connection:
            connection.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


@pytest.fixture
def database_url() -> Iterator[str]:
    yield from postgres_schema_url()


@pytest.fixture
def vault() -> Iterator[KeyVaultEmulator]:
    with KeyVaultEmulator(latency_ms=100) as emulator:
        yield emulator


def vault_values(vault: KeyVaultEmulator) -> dict[str, str]:
    return {s.name: s.version.value for s in vault.vault().list_secrets(None, 10_000).items}


def retry_hint(error: grpc.RpcError) -> bool:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    return status is not None and any(
        detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR) for detail in status.details
    )


class Load:
    """Creates then gets on each replica until stopped; a create is acknowledged once
    answered (retried with the same request_id through the outage)."""

    def __init__(self, replicas: list[Served], project_id: str) -> None:
        self.replicas = replicas
        self.project_id = project_id
        self.acknowledged: list[str] = []
        self.codes: Counter[grpc.StatusCode] = Counter()
        self.retry_hints = 0  # UNAVAILABLE answers that carried google.rpc.RetryInfo
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(r,)) for r in replicas]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=120)

    def _run(self, replica: Served) -> None:
        with replica.channel() as channel:
            stub = api_grpc.SecretSyncServiceStub(channel)
            while not self.stopping.is_set():
                request = create_request(project_id=self.project_id, is_enabled=False,
                                         name=f"load-{uuid.uuid4().hex[:12]}",
                                         request_id=str(uuid.uuid4()))
                made = self._until_answered(partial(stub.CreateSecretSync, request, timeout=10))
                if made is None:
                    continue
                self.acknowledged.append(made.secret_sync.id)
                self._until_answered(partial(
                    stub.GetSecretSync, api.GetSecretSyncRequest(id=made.secret_sync.id),
                    timeout=10))

    def _until_answered(self, call):
        while True:
            try:
                answer = call()
                self.codes[grpc.StatusCode.OK] += 1
                return answer
            except grpc.RpcError as error:
                self.codes[error.code()] += 1
                if error.code() == grpc.StatusCode.UNAVAILABLE and retry_hint(error):
                    self.retry_hints += 1
                if error.code() not in RETRIED:
                    return None
                if self.stopping.is_set() and error.code() != grpc.StatusCode.ABORTED:
                    return None
                time.sleep(0.2)


def test_postgres_restarted_twice_and_stopped_heals_without_anyone(
    database_url, vault, tmp_path: Path, processes
):
    env = serve_env(
        database_url + "&pool_size=1&max_overflow=4",
        SECRET_SYNC_CA_BUNDLE=str(vault.ca_path),
        SECRET_SYNC_JOB_LEASE_SECONDS="3",
        SECRET_SYNC_STORE_WAIT_SECONDS="2",
        SECRET_SYNC_WRITE_WAIT_SECONDS="10",
    )
    replicas = [serve(env, tmp_path / f"replica-{n}.log") for n in range(2)]
    processes.extend(replicas)
    with replicas[0].channel() as channel:
        project_id = new_project(channel)
        source = sgrpc.SecretSourceServiceStub(channel)
        source.BulkSetSecrets(sapi.BulkSetSecretsRequest(
            project_id=project_id, environment="dev", path="/my-secrets",
            secrets=[spb.Secret(key=f"KEY_{n}", value=f"value-{n}") for n in range(SECRETS)],
        ))
        connection_id = emulator_connection(channel, project_id, vault)
        sync = api_grpc.SecretSyncServiceStub(channel).CreateSecretSync(create_request(
            project_id=project_id, connection_id=connection_id,
            destination_config=pb.AzureKeyVaultDestinationConfig(vault_base_url=vault.url),
        )).secret_sync

    with Load(replicas, project_id) as load:
        try:
            for _ in range(2):
                postgres("restart")
                eventually(lambda: all(r.serving() for r in replicas), 60, 0.5)
            postgres("stop")
            time.sleep(OUTAGE_SECONDS)
        finally:
            postgres("start")
            eventually(postgres_answers, 60, 0.5)
        back = time.monotonic()
        eventually(lambda: all(r.serving() for r in replicas), 60, 0.5)
        # Not asserted (no timing assertions): shown with -s, noted in docs/operations.md.
        print(f"both replicas SERVING {time.monotonic() - back:.1f} s after PostgreSQL answered")
        time.sleep(2)  # some load after the outage too

    # Nothing acknowledged is lost; nothing answered INTERNAL or UNKNOWN.
    assert not {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN} & set(load.codes), load.codes
    assert load.codes[grpc.StatusCode.UNAVAILABLE] > 0  # refused, not hung, while down
    assert load.retry_hints > 0  # with a retry hint
    assert len(load.acknowledged) > 0
    for replica in replicas:
        with replica.channel() as channel:
            stub = api_grpc.SecretSyncServiceStub(channel)
            for sync_id in load.acknowledged:
                calls(partial(stub.GetSecretSync, api.GetSecretSyncRequest(id=sync_id)))

    # The vault converges; a change made after the outage reaches it (auto-sync).
    wanted = {f"KEY-{n}": f"value-{n}" for n in range(SECRETS)}
    eventually(lambda: vault_values(vault) == wanted, 90, 0.5)
    with replicas[1].channel() as channel:
        audit = audit_grpc.AuditServiceStub(channel)

        def history() -> list[object]:
            return list(calls(partial(audit.ListAuditEvents, audit_api.ListAuditEventsRequest(
                project_id=project_id, resource_id=sync.id, page_size=1000))).events)

        before = len(history())
        calls(lambda: sgrpc.SecretSourceServiceStub(channel).SetSecret(sapi.SetSecretRequest(
            project_id=project_id, environment="dev", path="/my-secrets",
            secret=spb.Secret(key="AFTER", value="the-outage"))))
        eventually(lambda: vault_values(vault) == wanted | {"AFTER": "the-outage"}, 90, 0.5)
        eventually(lambda: len(history()) > before, 60)  # audit follows the new job too
    assert all(r.serving() for r in replicas)
    assert all(r.process.poll() is None for r in replicas)
