"""The sync commands past creation, by id and by name: watch, get, import, remove,
delete; and a failing job ends `sync watch` with exit 1 and its message."""

from __future__ import annotations

import json

import grpc
from hanzo.kms.secretsync.v1 import azure_connection_pb2 as cpb
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2 as capi
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2_grpc as cgrpc
from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from tests.cli.conftest import Cli
from tests.conftest import create_request, new_project
from tests.emulator.conftest import emulator_connection


def seeded_sync(target: str, emulator, client_secret: str = "") -> tuple[str, str, str]:
    """A project with one secret and an auto-sync sync to the emulator (set up over gRPC:
    not what is under test); returns the project's id, the connection's and the sync's."""
    with grpc.insecure_channel(target) as channel:
        project_id = new_project(channel)
        sgrpc.SecretSourceServiceStub(channel).SetSecret(
            sapi.SetSecretRequest(
                project_id=project_id,
                environment="dev",
                path="/my-secrets",
                secret=spb.Secret(key="DB_HOST", value="db.internal"),
            )
        )
        if client_secret:  # a connection the emulator refuses
            connection_id = (
                cgrpc.AzureConnectionServiceStub(channel)
                .CreateAzureConnection(
                    capi.CreateAzureConnectionRequest(
                        project_id=project_id,
                        name="refused",
                        cloud=cpb.AZURE_CLOUD_PUBLIC,
                        client_secret_auth=cpb.ClientSecretAuth(
                            tenant_id=emulator.tenant_id,
                            client_id=emulator.client_id,
                            client_secret=client_secret,
                            authority_host=emulator.url,
                        ),
                    )
                )
                .connection.id
            )
        else:
            connection_id = emulator_connection(channel, project_id, emulator)
        sync = (
            api_grpc.SecretSyncServiceStub(channel)
            .CreateSecretSync(
                create_request(
                    project_id=project_id,
                    connection_id=connection_id,
                    destination_config=pb.AzureKeyVaultDestinationConfig(
                        vault_base_url=emulator.url
                    ),
                )
            )
            .secret_sync
        )
    return project_id, connection_id, sync.id


def test_watch_get_import_remove_and_delete(cli: Cli, working_target: str, emulator) -> None:
    project_id, connection_id, sync_id = seeded_sync(working_target, emulator)
    by_name = ("--project", project_id, "my-key-vault-sync")

    watched = cli("sync", "watch", sync_id, "--timeout", "30")
    assert watched.code == 0, watched.both
    assert "sync=SUCCEEDED" in watched.out.splitlines()[-1]
    shown = json.loads(cli("sync", "get", *by_name, "--output", "json").out)
    assert shown["id"] == sync_id and shown["sync_status"] == "JOB_STATUS_SUCCEEDED"
    assert "last succeeded 20" in cli("sync", "get", sync_id).out

    imported = cli("sync", "import", *by_name, "--behavior", "prioritize-source")
    assert imported.code == 0 and imported.out.startswith("import job "), imported.both
    watched = cli("sync", "watch", sync_id, "--job", "import", "--timeout", "30")
    assert watched.code == 0 and "import=SUCCEEDED" in watched.out.splitlines()[-1]

    removed = cli("sync", "remove-secrets", *by_name, "--request-id", "cli-remove-1")
    assert removed.code == 0 and removed.out.startswith("remove job "), removed.both
    watched = cli("sync", "watch", *by_name, "--job", "remove", "--timeout", "30")
    assert watched.code == 0 and "remove=SUCCEEDED" in watched.out.splitlines()[-1]
    assert emulator.vault().list_secrets(None, 25).items == []

    deleted = cli("sync", "delete", sync_id)
    assert deleted.out == "deleted sync my-key-vault-sync\n", deleted.both
    assert cli("sync", "list", "--project", project_id).out.splitlines() == [
        "NAME  STATUS  LAST SYNCED  MESSAGE"
    ]
    assert cli("connection", "delete", connection_id).code == 0
    assert cli("sync", "get", sync_id).code == 2  # NOT_FOUND


def test_a_failed_job_ends_the_watch_with_exit_1(cli: Cli, working_target: str, emulator) -> None:
    project_id, _, sync_id = seeded_sync(working_target, emulator, client_secret="wrong")

    watched = cli("sync", "watch", sync_id, "--timeout", "30")
    failed = cli("sync", "list", "--project", project_id, "--status", "failed")

    assert watched.code == 1, watched.both
    last = watched.out.splitlines()[-1]
    assert "sync=FAILED" in last and "message=" in last
    assert failed.out.splitlines()[1].split()[:3] == ["my-key-vault-sync", "FAILED", "-"]
