"""Our side of the sync benchmark: the service with its worker, driven over gRPC only.

The server is a subprocess (jobs on, development mode so a loopback vault is
allowed, the emulator's CA trusted), its store a SQLite file. A job is timed from
the call that requests it to the moment WatchSecretSync shows it finished, so the
time includes everything a user waits for: recording, the worker noticing the job,
resolving the source, listing, writing, and recording the outcome.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from hanzo.kms.secretsync.v1 import azure_connection_pb2 as cpb
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2 as capi
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2_grpc as cgrpc
from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from adapters.envelope import RootKey
from tests.bench.emulator_process import EmulatorProcess
from tests.bench.seed import unique_name
from tests.bench.servers import ServerProcess, _spawn
from tests.conftest import create_request, new_project

JOB_TIMEOUT_SECONDS = 300.0
# Auto-sync requests a sync of every sync reading a folder that changed, at most 2 s
# after the change; a sync created within that time would get a second job for the
# bulk set made before it existed. Seeding waits this long so each run is one job.
AUTO_SYNC_SETTLE_SECONDS = 3.0
FINISHED = (pb.JOB_STATUS_SUCCEEDED, pb.JOB_STATUS_FAILED)
_COUNT = re.compile(r"(\d+) (\w+)")


def start_ours_with_jobs(workdir: Path, ca_path: str) -> ServerProcess:
    """`python -m service serve --dev` with the sync worker on, trusting the emulator."""
    env = {
        **os.environ,
        "SECRET_SYNC_RUN_JOBS": "1",
        "SECRET_SYNC_CA_BUNDLE": ca_path,
        "SECRET_SYNC_ROOT_KEY": RootKey.generate_text(),
        "SECRET_SYNC_LOG_LEVEL": "INFO",  # the default
    }
    args = [
        "-m",
        "service",
        "serve",
        "--dev",
        "--listen",
        "127.0.0.1:{PORT}",
        "--database-url",
        f"sqlite:///{workdir}/sync-bench.sqlite",
    ]
    return _spawn("ours, SQLite, worker on", args, env, workdir)


@dataclass(frozen=True)
class JobOutcome:
    seconds: float  # from the requesting call to the finished job seen in Watch
    status: int  # pb.JobStatus
    message: str

    def counts(self) -> dict[str, int]:
        """What the job's message says it did: {"created": 1000, ...} from "1000 created"."""
        done = self.message.split("; ", 1)[0]
        return {what: int(n) for n, what in _COUNT.findall(done)}

    def written(self) -> int:
        counts = self.counts()
        return counts.get("created", 0) + counts.get("updated", 0)

    def failed_keys(self) -> int:
        """Keys the job names as failed (the message lists them after "failed: ")."""
        if "failed: " not in self.message:
            return 0
        listed = self.message.split("failed: ", 1)[1].split("; ", 1)[0]
        return listed.count("(")


class OursClient:
    """One project with the benchmark's secrets and a connection to the emulator."""

    def __init__(self, channel: grpc.Channel, emulator: EmulatorProcess) -> None:
        self.channel = channel
        self.emulator = emulator
        self.syncs = api_grpc.SecretSyncServiceStub(channel)
        self.project_id = ""
        self.connection_id = ""

    def seed(self, secrets: dict[str, str]) -> None:
        self.project_id = new_project(self.channel)
        sgrpc.SecretSourceServiceStub(self.channel).BulkSetSecrets(
            sapi.BulkSetSecretsRequest(
                project_id=self.project_id,
                environment="dev",
                path="/my-secrets",
                secrets=[spb.Secret(key=k, value=v) for k, v in secrets.items()],
            )
        )
        facts = self.emulator.facts
        auth = cpb.ClientSecretAuth(
            tenant_id=facts["tenant_id"],
            client_id=facts["client_id"],
            client_secret=facts["client_secret"],
            authority_host=facts["vault_url"],
        )
        self.connection_id = (
            cgrpc.AzureConnectionServiceStub(self.channel)
            .CreateAzureConnection(
                capi.CreateAzureConnectionRequest(
                    project_id=self.project_id,
                    name="emulator",
                    cloud=cpb.AZURE_CLOUD_PUBLIC,
                    client_secret_auth=auth,
                )
            )
            .connection.id
        )
        time.sleep(AUTO_SYNC_SETTLE_SECONDS)

    def initial_sync(self) -> tuple[str, JobOutcome]:
        """Create an auto-sync sync (overwrite destination): its first job runs at once."""
        request = create_request(
            project_id=self.project_id,
            name=unique_name("kv-bench"),
            connection_id=self.connection_id,
            destination_config=pb.AzureKeyVaultDestinationConfig(
                vault_base_url=self.emulator.vault_url
            ),
        )
        start = time.perf_counter()
        sync = self.syncs.CreateSecretSync(request).secret_sync
        return sync.id, self._finished(sync.id, sync.last_sync_job_id, start)

    def resync(self, sync_id: str) -> JobOutcome:
        start = time.perf_counter()
        job_id = self.syncs.TriggerSecretSync(api.TriggerSecretSyncRequest(id=sync_id)).job_id
        return self._finished(sync_id, job_id, start)

    def _finished(self, sync_id: str, job_id: str, start: float) -> JobOutcome:
        watch = self.syncs.WatchSecretSync(
            api.WatchSecretSyncRequest(id=sync_id), timeout=JOB_TIMEOUT_SECONDS
        )
        try:
            for change in watch:
                shown = change.secret_sync
                if shown.last_sync_job_id != job_id:  # a newer request took its place
                    raise RuntimeError(
                        f"sync {sync_id}: job {job_id} was followed by "
                        f"{shown.last_sync_job_id} before it was seen finished"
                    )
                if shown.sync_status in FINISHED:
                    seconds = time.perf_counter() - start
                    return JobOutcome(seconds, shown.sync_status, shown.last_sync_message)
        finally:
            watch.cancel()
        raise RuntimeError(f"the watch of sync {sync_id} ended before job {job_id} finished")
