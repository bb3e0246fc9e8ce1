"""A request for every RPC, aimed at a target: a project with its folder, sync,
connection and import. tests/security/ aims them at the caller's own project, at
another project, at nothing that exists, and outside the caller's environments or paths.

The table is keyed by "Service/Method": test_every_rpc fails for an RPC without an entry
here (or a place in ADMIN_ONLY / UNPLACED), so a new RPC cannot skip these tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import field_mask_pb2, timestamp_pb2
from hanzo.kms.secretsync.v1 import audit_service_pb2 as audit_api
from hanzo.kms.secretsync.v1 import azure_connection_pb2 as cpb
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2 as capi
from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api

from tests.security.conftest import Project, sync_request


@dataclass(frozen=True)
class Target:
    project_id: str
    environment: str
    path: str
    sync_id: str
    connection_id: str
    import_id: str

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.project_id, self.sync_id, self.connection_id, self.import_id)


def target(project: Project, environment: str = "dev", path: str = "/app") -> Target:
    return Target(
        project.id,
        environment,
        path,
        project.syncs.get(f"{environment}:{path}", ""),
        project.connection_id,
        project.import_id,
    )


def nothing() -> Target:
    """Ids that exist nowhere."""
    new = lambda: str(uuid.uuid4())  # noqa: E731
    return Target(new(), "dev", "/app", new(), new(), new())


def _folder(t: Target) -> dict[str, str]:
    return {"project_id": t.project_id, "environment": t.environment, "path": t.path}


def sync_name(t: Target) -> str:
    """The name conftest.build_project gives the sync of the target's folder."""
    return f"s-{t.environment}-{t.path.strip('/').replace('/', '-')}"


def _moment(seconds_from_now: int) -> timestamp_pb2.Timestamp:
    moment = timestamp_pb2.Timestamp()
    moment.FromDatetime(datetime.now(UTC) + timedelta(seconds=seconds_from_now))
    return moment


def _new_name() -> str:
    return "n-" + uuid.uuid4().hex[:10]


Build = Callable[[Target], Any]
SYNCS, SOURCE = "SecretSyncService/", "SecretSourceService/"
CONNECTIONS, AUDIT = "AzureConnectionService/", "AuditService/"
VAULT = "https://my-key-vault.vault.azure.net"

BUILDERS: dict[str, Build] = {
    SYNCS + "CreateSecretSync": lambda t: sync_request(
        t.project_id, t.connection_id, t.environment, t.path, _new_name()
    ),
    SYNCS + "GetSecretSync": lambda t: api.GetSecretSyncRequest(id=t.sync_id),
    SYNCS + "ListSecretSyncs": lambda t: api.ListSecretSyncsRequest(project_id=t.project_id),
    SYNCS + "UpdateSecretSync": lambda t: api.UpdateSecretSyncRequest(
        id=t.sync_id,
        description="changed",
        update_mask=field_mask_pb2.FieldMask(paths=["description"]),
    ),
    SYNCS + "DeleteSecretSync": lambda t: api.DeleteSecretSyncRequest(id=t.sync_id),
    SYNCS + "TriggerSecretSync": lambda t: api.TriggerSecretSyncRequest(id=t.sync_id),
    SYNCS + "ImportSecrets": lambda t: api.ImportSecretsRequest(
        id=t.sync_id, import_behavior=pb.IMPORT_BEHAVIOR_PRIORITIZE_SOURCE
    ),
    SYNCS + "RemoveSecrets": lambda t: api.RemoveSecretsRequest(id=t.sync_id),
    SYNCS + "WatchSecretSync": lambda t: api.WatchSecretSyncRequest(id=t.sync_id),
    SOURCE + "CreateEnvironment": lambda t: sapi.CreateEnvironmentRequest(
        project_id=t.project_id, slug=t.environment + "-x" + uuid.uuid4().hex[:6], name="E"
    ),
    SOURCE + "ListEnvironments": lambda t: sapi.ListEnvironmentsRequest(project_id=t.project_id),
    SOURCE + "CreateFolder": lambda t: sapi.CreateFolderRequest(
        project_id=t.project_id, environment=t.environment, path=t.path + "/" + _new_name()
    ),
    SOURCE + "ListFolders": lambda t: sapi.ListFoldersRequest(**_folder(t)),
    SOURCE + "DeleteFolder": lambda t: sapi.DeleteFolderRequest(**_folder(t)),
    SOURCE + "SetSecret": lambda t: sapi.SetSecretRequest(
        **_folder(t), secret=spb.Secret(key="K", value="changed")
    ),
    SOURCE + "BulkSetSecrets": lambda t: sapi.BulkSetSecretsRequest(
        **_folder(t), secrets=[spb.Secret(key="K", value="changed")]
    ),
    SOURCE + "GetSecret": lambda t: sapi.GetSecretRequest(**_folder(t), key="K"),
    SOURCE + "ListSecrets": lambda t: sapi.ListSecretsRequest(**_folder(t), include_values=True),
    SOURCE + "DeleteSecret": lambda t: sapi.DeleteSecretRequest(**_folder(t), key="K"),
    SOURCE + "CreateSecretImport": lambda t: sapi.CreateSecretImportRequest(
        **_folder(t), secret_import=spb.SecretImport(environment=t.environment, path="/app/db")
    ),
    SOURCE + "ListSecretImports": lambda t: sapi.ListSecretImportsRequest(**_folder(t)),
    SOURCE + "DeleteSecretImport": lambda t: sapi.DeleteSecretImportRequest(
        **_folder(t), import_id=t.import_id
    ),
    SOURCE + "ResolveSecrets": lambda t: sapi.ResolveSecretsRequest(**_folder(t)),
    CONNECTIONS + "CreateAzureConnection": lambda t: capi.CreateAzureConnectionRequest(
        project_id=t.project_id,
        name=_new_name(),
        cloud=cpb.AZURE_CLOUD_PUBLIC,
        # Not a managed identity: that needs the operator's allowance
        # (tests/security/test_managed_identity.py).
        client_secret_auth=cpb.ClientSecretAuth(
            tenant_id=str(uuid.uuid4()), client_id=str(uuid.uuid4()),
            client_secret="not-a-real-secret",
        ),
    ),
    CONNECTIONS + "GetAzureConnection": lambda t: capi.GetAzureConnectionRequest(
        connection_id=t.connection_id
    ),
    CONNECTIONS + "ListAzureConnections": lambda t: capi.ListAzureConnectionsRequest(
        project_id=t.project_id
    ),
    CONNECTIONS + "DeleteAzureConnection": lambda t: capi.DeleteAzureConnectionRequest(
        connection_id=t.connection_id
    ),
    CONNECTIONS + "ValidateAzureConnection": lambda t: capi.ValidateAzureConnectionRequest(
        connection_id=t.connection_id, vault_base_url=VAULT
    ),
    AUDIT + "ListAuditEvents": lambda t: audit_api.ListAuditEventsRequest(project_id=t.project_id),
    AUDIT + "GetAuditEvent": lambda t: audit_api.GetAuditEventRequest(
        project_id=t.project_id, position=1
    ),
    AUDIT + "StreamAuditEvents": lambda t: audit_api.StreamAuditEventsRequest(
        project_id=t.project_id
    ),
}
# More ways into one RPC: by name, and the past of a sync.
VARIANTS: list[tuple[str, Build]] = [
    (
        SYNCS + "GetSecretSync",
        lambda t: api.GetSecretSyncRequest(project_id=t.project_id, name=sync_name(t)),
    ),
    (SYNCS + "GetSecretSync", lambda t: api.GetSecretSyncRequest(id=t.sync_id, as_of_version=1)),
    (
        SYNCS + "GetSecretSync",
        lambda t: api.GetSecretSyncRequest(id=t.sync_id, as_of_time=_moment(0)),
    ),

    (
        SYNCS + "TriggerSecretSync",
        lambda t: api.TriggerSecretSyncRequest(id=t.sync_id, validate_only=True),
    ),
    (
        SYNCS + "DeleteSecretSync",
        lambda t: api.DeleteSecretSyncRequest(id=t.sync_id, remove_secrets=True),
    ),
]
# Invalid whoever's the sync (INVALID_ARGUMENT): the check of another project must not
# come first, or it would tell that the sync exists.
INVALID_ANYWAY: list[tuple[str, Build]] = [
    (
        SYNCS + "GetSecretSync",
        lambda t: api.GetSecretSyncRequest(id=t.sync_id, as_of_time=_moment(3600)),
    ),
    (
        SYNCS + "DeleteSecretSync",
        lambda t: api.DeleteSecretSyncRequest(id=t.sync_id, request_id="has space"),
    ),
    (
        SYNCS + "ImportSecrets",
        lambda t: api.ImportSecretsRequest(id=t.sync_id),  # no import_behavior
    ),
    (
        CONNECTIONS + "ValidateAzureConnection",
        lambda t: capi.ValidateAzureConnectionRequest(connection_id=t.connection_id),
    ),
]
# Need the admin grant on every project: PERMISSION_DENIED for anyone else.
ADMIN_ONLY = {
    "SecretSourceService/CreateProject",
    "TokenService/CreateServiceToken",
    "TokenService/ListServiceTokens",
    "TokenService/RevokeServiceToken",
}
# Name no project: they show only what the caller may see.
UNPLACED = {"SecretSourceService/ListProjects"}
# About a project as a whole (connections, the audit, lists): environment and path
# narrowing does not apply; lists are filtered instead.
PROJECT_LEVEL = {
    SYNCS + "ListSecretSyncs",
    SOURCE + "ListEnvironments",
    CONNECTIONS + "CreateAzureConnection",
    CONNECTIONS + "GetAzureConnection",
    CONNECTIONS + "ListAzureConnections",
    CONNECTIONS + "DeleteAzureConnection",
    CONNECTIONS + "ValidateAzureConnection",
    AUDIT + "ListAuditEvents",
    AUDIT + "GetAuditEvent",
    AUDIT + "StreamAuditEvents",
}
# What an admin asking about a missing project is told differs from the hidden answer:
# the service does not check that a connection's project exists.
ADMIN_MISSING_DIFFERS = {CONNECTIONS + "CreateAzureConnection"}
