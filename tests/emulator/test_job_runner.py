"""A sync job end to end below the worker: gRPC requests it, JobRunner runs it against
the emulator with the real SDK, the sync shows the outcome."""

from __future__ import annotations

import threading
import time

import pytest
from azure.identity import ClientSecretCredential
from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api

from adapters.azure_key_vault import AzureKeyVault
from domain.secret_sync import SecretSync
from keyvault_emulator import KeyVaultEmulator
from service.jobs.job_runner import JobRunner
from tests.conftest import _default_project, create_request


class EmulatorVaults:
    """Stands in for the connections service (not built yet): the emulator's principal."""

    def __init__(self, emulator: KeyVaultEmulator) -> None:
        self.emulator = emulator

    def vault_for(self, sync: SecretSync) -> AzureKeyVault:
        return AzureKeyVault(
            sync.vault_base_url,
            ClientSecretCredential(**self.emulator.credential_kwargs()),
            connection_verify=str(self.emulator.ca_path),
            verify_challenge_resource=False,
        )


@pytest.fixture
def runner(server, emulator) -> JobRunner:
    return JobRunner(server.app, server.sources, EmulatorVaults(emulator), "test-worker")


def set_secrets(source_stub, **values: str) -> None:
    source_stub.BulkSetSecrets(
        sapi.BulkSetSecretsRequest(
            project_id=_default_project[0],
            environment="dev",
            path="/my-secrets",
            secrets=[spb.Secret(key=k, value=v) for k, v in values.items()],
        )
    )


def finished(stub, sync_id: str) -> pb.SecretSync:
    """The sync once the view shows its job finished (the worker writes to the store;
    the view follows a moment later)."""
    deadline = time.monotonic() + 10
    while True:
        sync = stub.GetSecretSync(api.GetSecretSyncRequest(id=sync_id)).secret_sync
        if sync.sync_status in (pb.JOB_STATUS_SUCCEEDED, pb.JOB_STATUS_FAILED):
            return sync
        assert time.monotonic() < deadline, "the job never finished"
        time.sleep(0.05)


def create_sync(stub, emulator) -> pb.SecretSync:
    request = create_request(
        destination_config=pb.AzureKeyVaultDestinationConfig(vault_base_url=emulator.url),
        sync_options=pb.SyncOptions(
            initial_sync_behavior=pb.INITIAL_SYNC_BEHAVIOR_OVERWRITE_DESTINATION,
            key_schema="app-{{secretKey}}",
        ),
    )
    return stub.CreateSecretSync(request).secret_sync


def test_a_requested_sync_runs_once_and_the_sync_shows_it(server, stub, source_stub, emulator,
                                                          runner):
    set_secrets(source_stub, DB_HOST="db.internal", API_KEY="k-1")
    sync = create_sync(stub, emulator)
    assert runner.run_sync(sync.id, sync.last_sync_job_id)
    assert not runner.run_sync(sync.id, sync.last_sync_job_id)  # finished: not again
    vault = emulator.vault()
    assert vault.get_secret("app-DB-HOST").version.value == "db.internal"
    shown = finished(stub, sync.id)
    assert shown.sync_status == pb.JOB_STATUS_SUCCEEDED
    assert shown.last_synced_at.seconds > 0
    assert "2 created" in shown.last_sync_message


def test_a_no_op_resync_sends_only_listing_requests(server, stub, source_stub, emulator, runner):
    set_secrets(source_stub, A="1", B="2")
    sync = create_sync(stub, emulator)
    runner.run_sync(sync.id, sync.last_sync_job_id)
    job = stub.TriggerSecretSync(api.TriggerSecretSyncRequest(id=sync.id)).job_id
    emulator.reset_counts()
    assert runner.run_sync(sync.id, job)
    counts = emulator.counts()
    assert counts.get("set", 0) == 0 and counts.get("get", 0) == 0
    shown = finished(stub, sync.id)
    assert shown.sync_status == pb.JOB_STATUS_SUCCEEDED
    assert "2 unchanged" in shown.last_sync_message


def test_racing_workers_run_a_job_exactly_once(server, stub, source_stub, emulator):
    set_secrets(source_stub, A="1")
    sync = create_sync(stub, emulator)
    vaults = EmulatorVaults(emulator)
    runners = [JobRunner(server.app, server.sources, vaults, f"w{i}") for i in range(5)]
    results: list[bool] = []
    barrier = threading.Barrier(len(runners))

    def run(r: JobRunner) -> None:
        barrier.wait()
        results.append(r.run_sync(sync.id, sync.last_sync_job_id))

    threads = [threading.Thread(target=run, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == [False] * 4 + [True]


def test_a_vault_failure_fails_the_job_with_the_azure_code_and_no_value(
    server, stub, source_stub, emulator, runner
):
    set_secrets(source_stub, A="CANARY-VALUE")
    sync = create_sync(stub, emulator)
    emulator.set_permissions(emulator.client_id, ["get", "set"])  # no list
    assert runner.run_sync(sync.id, sync.last_sync_job_id)
    shown = finished(stub, sync.id)
    assert shown.sync_status == pb.JOB_STATUS_FAILED
    assert "Forbidden" in shown.last_sync_message
    assert "CANARY" not in shown.last_sync_message
