"""Three replicas of the service on one PostgreSQL: every replica serves, each job runs
once, one leader advances the projections, and killing a replica (kill -9) loses
nothing: its job is taken over after the lease, its leadership by another replica.

The replicas are real `python -m service serve` processes; the vault is the Key
Vault emulator, slowed so that a sync is still running when its worker is killed.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import grpc
import pytest
from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from adapters.envelope import RootKey
from domain.secret_sync import SecretSync
from keyvault_emulator import KeyVaultEmulator
from service.app.secret_syncs import SecretSyncs
from service.runtime.config import Config
from service.runtime.store_encryption import event_store_env
from tests.bench.servers import REPO, free_port
from tests.conftest import create_request, new_project, postgres_schema_url
from tests.emulator.conftest import emulator_connection, eventually

SECRETS = 60
LEASE_SECONDS = 3
ROOT_KEY = RootKey.generate_text()  # the replicas', to read their (encrypted) events here
ELECTED = "this replica now advances the projections"


@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def channel(self) -> grpc.Channel:
        return grpc.insecure_channel(f"127.0.0.1:{self.port}")

    def leads(self) -> bool:
        return ELECTED in self.log.read_text(errors="replace")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def database_url() -> Iterator[str]:
    yield from postgres_schema_url()


@pytest.fixture
def vault() -> Iterator[KeyVaultEmulator]:
    # Slow enough that a sync of SECRETS keys takes a few seconds (8 writes at a time).
    with KeyVaultEmulator(latency_ms=400) as emulator:
        yield emulator


@pytest.fixture
def replicas(database_url, vault, tmp_path) -> Iterator[list[Replica]]:
    env = {
        **os.environ,
        # Small pools: three processes must fit PostgreSQL's default 100 connections
        # beside the test's own (a leading replica holds about 30 with the defaults).
        "SECRET_SYNC_DATABASE_URL": database_url + "&pool_size=1&max_overflow=4",
        "SECRET_SYNC_ROOT_KEY": ROOT_KEY,
        "SECRET_SYNC_CA_BUNDLE": str(vault.ca_path),
        "SECRET_SYNC_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "SECRET_SYNC_METRICS_LISTEN": "off",
    }
    started = [_start(env, tmp_path / f"replica-{n}.log") for n in range(3)]
    try:
        for replica in started:
            with replica.channel as channel:
                grpc.channel_ready_future(channel).result(timeout=30)
        yield started
    finally:
        for replica in started:
            if replica.process.poll() is None:
                replica.process.terminate()
                replica.process.wait(timeout=15)


def _start(env: dict[str, str], log: Path) -> Replica:
    port = free_port()
    command = [sys.executable, "-m", "service", "serve", "--dev",
               "--listen", f"127.0.0.1:{port}"]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log.open("wb"),
                               stderr=subprocess.STDOUT)
    return Replica(process, port, log)


def events_of(database_url: str, sync_id: str) -> list[SecretSync.Event]:
    config = Config(database_url=database_url, root_key=ROOT_KEY)  # the replicas' key
    app = SecretSyncs(env=event_store_env(config))
    try:
        return list(app.events.get(UUID(sync_id)))
    finally:
        app.close()


def vault_values(vault: KeyVaultEmulator) -> dict[str, str]:
    page = vault.vault().list_secrets(None, 10_000)
    return {s.name: s.version.value for s in page.items}


def test_a_killed_replica_loses_neither_its_job_nor_the_projections(
    replicas, vault, database_url
):
    with replicas[0].channel as channel:
        project_id = new_project(channel)
        sgrpc.SecretSourceServiceStub(channel).BulkSetSecrets(sapi.BulkSetSecretsRequest(
            project_id=project_id, environment="dev", path="/my-secrets",
            secrets=[spb.Secret(key=f"KEY_{n}", value=f"value-{n}") for n in range(SECRETS)],
        ))
        connection_id = emulator_connection(channel, project_id, vault)
        sync = api_grpc.SecretSyncServiceStub(channel).CreateSecretSync(create_request(
            project_id=project_id, connection_id=connection_id,
            destination_config=pb.AzureKeyVaultDestinationConfig(vault_base_url=vault.url),
        )).secret_sync

    # Kill the replica whose worker claimed the job, while the job runs.
    claim = eventually(lambda: [e for e in events_of(database_url, sync.id)
                                if isinstance(e, SecretSync.JobStarted)])[0]
    pid = int(claim.worker.rsplit(":", 1)[1])
    (victim,) = [r for r in replicas if r.process.pid == pid]
    eventually(lambda: 0 < len(vault_values(vault)) < SECRETS, timeout=30)
    leader_killed = victim.leads()
    victim.kill()
    survivors = [r for r in replicas if r is not victim]

    # Another replica takes the job over after the lease, and the vault converges.
    with survivors[0].channel as channel:
        syncs = api_grpc.SecretSyncServiceStub(channel)

        def succeeded() -> bool:
            shown = syncs.GetSecretSync(api.GetSecretSyncRequest(id=sync.id)).secret_sync
            return shown.sync_status == pb.JOB_STATUS_SUCCEEDED

        eventually(succeeded, timeout=60)
        starts = [e for e in events_of(database_url, sync.id)
                  if isinstance(e, SecretSync.JobStarted) and e.job_id == claim.job_id]
        assert [s.worker for s in starts][:1] == [claim.worker]
        assert len({s.worker for s in starts}) == 2  # the log shows the takeover
        assert vault_values(vault) == {f"KEY-{n}": f"value-{n}" for n in range(SECRETS)}

        # Every survivor serves reads and writes, read-your-writes included.
        for replica in survivors:
            with replica.channel as other:
                stub = api_grpc.SecretSyncServiceStub(other)
                made = stub.CreateSecretSync(create_request(
                    project_id=project_id, name=f"after-{replica.port}", is_enabled=False,
                    connection_id=connection_id,
                )).secret_sync
                assert stub.GetSecretSync(api.GetSecretSyncRequest(id=made.id)).secret_sync == made

    # Exactly one survivor leads now (the victim's lock went with its session).
    eventually(lambda: sum(r.leads() for r in survivors) >= 1, timeout=15)
    if leader_killed:
        assert sum(r.leads() for r in survivors) == 1


def test_killing_the_leader_hands_the_projections_to_another_replica(replicas, database_url):
    leader = eventually(lambda: next((r for r in replicas if r.leads()), None), timeout=15)
    assert sum(r.leads() for r in replicas) == 1
    leader.kill()
    survivors = [r for r in replicas if r is not leader]

    with survivors[0].channel as channel:
        stub = api_grpc.SecretSyncServiceStub(channel)
        made = stub.CreateSecretSync(create_request(
            project_id=new_project(channel), is_enabled=False)).secret_sync
        assert stub.GetSecretSync(api.GetSecretSyncRequest(id=made.id)).secret_sync == made
    assert sum(r.leads() for r in survivors) == 1
    assert re.search(ELECTED, "".join(r.log.read_text() for r in survivors))
