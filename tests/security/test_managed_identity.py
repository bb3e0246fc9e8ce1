"""A managed-identity connection signs in as the service host's identity: a project may
make one only where the operator allows it (SECRET_SYNC_MANAGED_IDENTITIES), and with
vault globs, point its syncs only at those vaults (docs/auth.md)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import grpc
import pytest
from google.protobuf import field_mask_pb2
from hanzo.kms.secretsync.v1 import azure_connection_pb2 as cpb
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2 as capi
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2_grpc as cgrpc
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as agrpc

from domain.managed_identity import SETTING
from service.app.call_context import CallContext
from tests.conftest import event_count, start_server
from tests.security.conftest import bearer, build_project, reason_of, sync_request

ALLOWED_VAULT = "https://team-a-prod.vault.azure.net"
OTHER_VAULT = "https://team-b-prod.vault.azure.net"


def project_principal(server, project_id: str) -> list[tuple[str, str]]:
    """A principal that may do everything in its own project (but is no service admin)."""
    grants = [{"project": project_id, "actions": ["admin"]}]
    _, token = server.tokens.create(
        "p-" + uuid.uuid4().hex[:8], "team-a-ci", grants, timedelta(hours=1),
        CallContext("bootstrap", "r-" + uuid.uuid4().hex),
    )
    return bearer(token)


def managed(project_id: str, client_id: str = "") -> capi.CreateAzureConnectionRequest:
    return capi.CreateAzureConnectionRequest(
        project_id=project_id, name="mi-" + uuid.uuid4().hex[:8], cloud=cpb.AZURE_CLOUD_PUBLIC,
        managed_identity_auth=cpb.ManagedIdentityAuth(client_id=client_id),
    )


def test_without_the_operator_allowance_a_project_cannot_use_the_host_identity(tmp_path):
    server = start_server(f"sqlite:///{tmp_path}/store.sqlite", auth="required")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            admin = bearer(server.tokens.create(
                "root", "root", [{"project": "*", "actions": ["admin"]}], timedelta(hours=1),
                CallContext("bootstrap", "r-root"))[1])
            project = build_project(channel, admin)
            caller = project_principal(server, project.id)
            stub = cgrpc.AzureConnectionServiceStub(channel)
            before = event_count(server)
            for client_id in ("", str(uuid.uuid4())):
                with pytest.raises(grpc.RpcError) as refused:
                    stub.CreateAzureConnection(managed(project.id, client_id), metadata=caller)
                error = refused.value
                assert error.code() == grpc.StatusCode.PERMISSION_DENIED
                assert reason_of(error) == "MANAGED_IDENTITY_NOT_ALLOWED"
                assert SETTING in (error.details() or "")
            # Not even the service admin: the allowance is the operator's, not a grant.
            with pytest.raises(grpc.RpcError) as refused:
                stub.CreateAzureConnection(managed(project.id), metadata=admin)
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert event_count(server) == before
    finally:
        server.stop(grace=1.0)


def test_with_the_allowance_the_project_may_and_only_for_its_vaults(tmp_path):
    url = f"sqlite:///{tmp_path}/store.sqlite"
    first = start_server(url, auth="required")
    with grpc.insecure_channel(f"127.0.0.1:{first.port}") as channel:
        admin = bearer(first.tokens.create(
            "root", "root", [{"project": "*", "actions": ["admin"]}], timedelta(hours=1),
            CallContext("bootstrap", "r-root"))[1])
        project = build_project(channel, admin)
        other = build_project(channel, admin)
    first.stop(grace=1.0)
    allowance = f"{project.id}=system@team-a-*.vault.azure.net"
    server = start_server(url, auth="required", managed_identities=allowance)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            caller = project_principal(server, project.id)
            connections = cgrpc.AzureConnectionServiceStub(channel)
            made = connections.CreateAzureConnection(managed(project.id), metadata=caller)
            connection = made.connection
            assert connection.auth_method == cpb.AZURE_AUTH_METHOD_MANAGED_IDENTITY

            # A user-assigned identity was not allowed, nor another project.
            with pytest.raises(grpc.RpcError) as refused:
                connections.CreateAzureConnection(
                    managed(project.id, str(uuid.uuid4())), metadata=caller
                )
            assert reason_of(refused.value) == "MANAGED_IDENTITY_NOT_ALLOWED"
            with pytest.raises(grpc.RpcError) as refused:
                connections.CreateAzureConnection(
                    managed(other.id), metadata=project_principal(server, other.id)
                )
            assert reason_of(refused.value) == "MANAGED_IDENTITY_NOT_ALLOWED"

            syncs = agrpc.SecretSyncServiceStub(channel)
            request = sync_request(project.id, connection.id, "dev", "/app", name="mi-sync")
            request.destination_config.vault_base_url = OTHER_VAULT
            with pytest.raises(grpc.RpcError) as refused:
                syncs.CreateSecretSync(request, metadata=caller)
            assert reason_of(refused.value) == "MANAGED_IDENTITY_NOT_ALLOWED"
            assert "team-b-prod.vault.azure.net" in (refused.value.details() or "")

            request.destination_config.vault_base_url = ALLOWED_VAULT
            sync = syncs.CreateSecretSync(request, metadata=caller).secret_sync
            # Moving it to a vault the allowance does not list is refused as well.
            with pytest.raises(grpc.RpcError) as refused:
                syncs.UpdateSecretSync(
                    api.UpdateSecretSyncRequest(
                        id=sync.id, etag=sync.etag,
                        destination_config=pb.AzureKeyVaultDestinationConfig(
                            vault_base_url=OTHER_VAULT
                        ),
                        update_mask=field_mask_pb2.FieldMask(paths=["destination_config"]),
                    ),
                    metadata=caller,
                )
            assert reason_of(refused.value) == "MANAGED_IDENTITY_NOT_ALLOWED"
    finally:
        server.stop(grace=1.0)
