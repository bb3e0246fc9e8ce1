"""`sync trigger --dry-run` prints the plan as a table and writes nothing."""

from __future__ import annotations

import grpc
from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from tests.cli.conftest import Cli
from tests.conftest import create_request, new_project
from tests.emulator.conftest import emulator_connection


def test_a_dry_run_prints_the_plan_table(cli: Cli, working_target: str, emulator) -> None:
    with grpc.insecure_channel(working_target) as channel:  # the setup is not under test
        project_id = new_project(channel)
        sgrpc.SecretSourceServiceStub(channel).SetSecret(
            sapi.SetSecretRequest(
                project_id=project_id,
                environment="dev",
                path="/my-secrets",
                secret=spb.Secret(key="DB_HOST", value="CANARY-DRY"),
            )
        )
        sync = (
            api_grpc.SecretSyncServiceStub(channel)
            .CreateSecretSync(
                create_request(
                    project_id=project_id,
                    connection_id=emulator_connection(channel, project_id, emulator),
                    is_enabled=False,  # nothing requested: only the dry run reads the vault
                    destination_config=pb.AzureKeyVaultDestinationConfig(
                        vault_base_url=emulator.url
                    ),
                )
            )
            .secret_sync
        )

    result = cli("sync", "trigger", "--project", project_id, sync.name, "--dry-run")

    assert result.code == 0, result.both
    lines = result.out.splitlines()
    assert lines[0].split() == ["ACTION", "VAULT", "NAME", "KEY", "REASON"]
    assert lines[1].split()[:3] == ["CREATE", "DB-HOST", "DB_HOST"]
    assert lines[-1] == "dry run: 1 create; nothing was written"
    assert "CANARY-DRY" not in result.both
    assert emulator.vault().list_secrets(None, 25).items == []  # nothing written
