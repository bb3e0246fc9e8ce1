"""Every RPC's permission rule, in one table: the action it needs and where.

A rule names the request fields that say where a call acts (project, environment,
path) and what a caller with no grant on that project is told (`hidden`: exactly what
a missing project answers). A call by id has a `subject` instead: the sync or
connection is checked where it is loaded (service/app/access.py), so a caller that may not
see its project is answered exactly as for an id that does not exist. `filtered` lists
show only what the caller may read. `admin` needs the admin grant on every project.

tests/security/ checks that every RPC of every service in protos/ has a rule here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message
from hanzo.kms.secretsync.v1 import audit_service_pb2 as audit_api
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2 as connection_api
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as source_api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as sync_api
from hanzo.kms.secretsync.v1 import token_service_pb2 as token_api

from domain.errors import InvalidArgument, NotFound, PermissionDenied, SecretSyncError, require
from domain.permissions import (
    CREATE,
    DELETE,
    EDIT,
    IMPORT_SECRETS,
    MANAGE_CONNECTIONS,
    READ,
    READ_AUDIT,
    REMOVE_SECRETS,
    SYNC_SECRETS,
)
from domain.rules import check_uuid, normalise_secret_path
from service.app.access import CONNECTION, SYNC, Access, require_place

Hidden = Callable[[Any], SecretSyncError | Message]


def project_not_found(request: Any) -> SecretSyncError:
    return NotFound(f"project {request.project_id} not found", "PROJECT_NOT_FOUND").about(
        resource_id=request.project_id, field="project_id"
    )


def project_not_found_lower(request: Any) -> SecretSyncError:
    project_id = request.project_id.lower()
    return NotFound(f"project {project_id} not found", "PROJECT_NOT_FOUND").about(
        resource_id=project_id, field="project_id"
    )


def empty(response: type[Message]) -> Hidden:
    return lambda request: response()


def sync_name_not_found(request: Any) -> SecretSyncError:
    return NotFound(
        f"no secret sync named {request.name!r} in project {request.project_id}",
        "SECRET_SYNC_NOT_FOUND",
    ).about(resource_id=request.name, field="name")


def audit_event_not_found(request: Any) -> SecretSyncError:
    return NotFound(
        f"no audit event at position {request.position} in project {request.project_id}",
        "AUDIT_EVENT_NOT_FOUND",
    ).about(resource_id=str(request.position), field="position")


@dataclass(frozen=True)
class Rule:
    action: str | Callable[[Any], tuple[str, ...]]
    project: str | Callable[[Any], str] = ""  # request field with the project id
    environment: str = ""  # request field with the environment slug
    path: str = ""  # request field with the secret path
    default_path: str = ""  # the path when the field is empty
    hidden: Hidden = project_not_found
    subject: str = ""  # SYNC or CONNECTION: checked where it is loaded
    also: tuple[tuple[str, str, str], ...] = ()  # (action, environment field, path field)
    filtered: bool = False  # the servicer shows only what the caller may read
    admin: bool = False

    def actions(self, request: Any) -> tuple[str, ...]:
        return self.action(request) if callable(self.action) else (self.action,)

    def check(self, access: Access, request: Any) -> Message | None:
        """Raise what the caller is told, or return the answer it gets instead of the
        call's (an empty list); None: the call goes on."""
        if self.admin:
            if not access.principal.is_admin:
                raise PermissionDenied(f"{access.method} needs the admin grant on every project")
            return None
        if callable(self.project):
            project = self.project(request)
        else:
            project = _field(request, self.project) if self.project else ""
        if not project:
            return None  # about no project (filtered) or by id (subject)
        require(check_uuid(_name(self.project, "project_id"), project))
        if not access.principal.sees(project):
            hidden = self.hidden(request)
            if isinstance(hidden, Exception):
                raise hidden
            return hidden
        if self.filtered and not self.environment:
            if not any(access.principal.may_somewhere(a, project) for a in access.actions):
                raise PermissionDenied(f"not allowed to {access.actions[0]} in project {project}")
            return None
        environment = _field(request, self.environment) if self.environment else None
        path = self._path(request, self.path) if self.path else None
        require_place(access, project, environment, path)
        for action, env_field, path_field in self.also:
            other = Access(access.principal, access.method, (action,))
            environment = _field(request, env_field)
            require_place(other, project, environment, self._path(request, path_field))
        return None

    def _path(self, request: Any, name: str) -> str:
        raw = _field(request, name) or self.default_path
        path, violations = normalise_secret_path(raw, name)
        if violations:
            raise InvalidArgument(violations)
        return path


def _field(request: Any, path: str) -> str:
    value: Any = request
    for part in path.split("."):
        value = getattr(value, part)
    return str(value)


def _name(project: str | Callable[[Any], str], default: str) -> str:
    return project if isinstance(project, str) and project else default


def _by_name(request: Any) -> str:
    """GetSecretSync by name names its project; by id, the sync says."""
    return "" if request.id else request.project_id


def _delete_actions(request: Any) -> tuple[str, ...]:
    return (DELETE, REMOVE_SECRETS) if request.remove_secrets else (DELETE,)


def _methods(module: Any, service: str) -> str:
    return "/" + module.DESCRIPTOR.services_by_name[service].full_name + "/"


SYNCS = _methods(sync_api, "SecretSyncService")
SOURCE = _methods(source_api, "SecretSourceService")
CONNECTIONS = _methods(connection_api, "AzureConnectionService")
AUDIT = _methods(audit_api, "AuditService")
TOKENS = _methods(token_api, "TokenService")
FOLDER: dict[str, Any] = {"project": "project_id", "environment": "environment", "path": "path"}

RULES: dict[str, Rule] = {
    # --- secret syncs: by project on create and list, by the sync's own place otherwise
    SYNCS + "CreateSecretSync": Rule(
        CREATE, "project_id", "environment", "secret_path", hidden=project_not_found_lower
    ),
    SYNCS + "GetSecretSync": Rule(READ, _by_name, subject=SYNC, hidden=sync_name_not_found),
    SYNCS + "ListSecretSyncs": Rule(
        READ, "project_id", filtered=True, hidden=empty(sync_api.ListSecretSyncsResponse)
    ),
    SYNCS + "UpdateSecretSync": Rule(EDIT, subject=SYNC),
    SYNCS + "DeleteSecretSync": Rule(_delete_actions, subject=SYNC),
    SYNCS + "TriggerSecretSync": Rule(SYNC_SECRETS, subject=SYNC),
    SYNCS + "ImportSecrets": Rule(IMPORT_SECRETS, subject=SYNC),
    SYNCS + "RemoveSecrets": Rule(REMOVE_SECRETS, subject=SYNC),
    SYNCS + "WatchSecretSync": Rule(READ, subject=SYNC),
    # --- the secret source: every request names its folder
    SOURCE + "CreateProject": Rule(CREATE, admin=True),
    SOURCE + "ListProjects": Rule(READ, filtered=True),
    SOURCE + "CreateEnvironment": Rule(CREATE, "project_id", "slug"),
    SOURCE + "ListEnvironments": Rule(READ, "project_id", filtered=True),
    SOURCE + "CreateFolder": Rule(CREATE, **FOLDER),
    SOURCE + "ListFolders": Rule(READ, **FOLDER, default_path="/", filtered=True),
    SOURCE + "DeleteFolder": Rule(DELETE, **FOLDER),
    SOURCE + "SetSecret": Rule(EDIT, **FOLDER),
    SOURCE + "BulkSetSecrets": Rule(EDIT, **FOLDER),
    SOURCE + "GetSecret": Rule(READ, **FOLDER),
    SOURCE + "ListSecrets": Rule(READ, **FOLDER),
    SOURCE + "DeleteSecret": Rule(DELETE, **FOLDER),
    SOURCE + "CreateSecretImport": Rule(
        CREATE, **FOLDER, also=((READ, "secret_import.environment", "secret_import.path"),)
    ),
    SOURCE + "ListSecretImports": Rule(READ, **FOLDER),
    SOURCE + "DeleteSecretImport": Rule(DELETE, **FOLDER),
    # The servicer also checks every folder the resolution read (imports, references).
    SOURCE + "ResolveSecrets": Rule(READ, **FOLDER),
    # --- Azure connections: project-level resources
    CONNECTIONS + "CreateAzureConnection": Rule(MANAGE_CONNECTIONS, "project_id"),
    CONNECTIONS + "GetAzureConnection": Rule(READ, subject=CONNECTION),
    CONNECTIONS + "ListAzureConnections": Rule(
        READ, "project_id", hidden=empty(connection_api.ListAzureConnectionsResponse)
    ),
    CONNECTIONS + "DeleteAzureConnection": Rule(MANAGE_CONNECTIONS, subject=CONNECTION),
    CONNECTIONS + "ValidateAzureConnection": Rule(MANAGE_CONNECTIONS, subject=CONNECTION),
    # --- the audit: a project's, or (streams) every project the caller may read
    AUDIT + "ListAuditEvents": Rule(
        READ_AUDIT, "project_id", hidden=empty(audit_api.ListAuditEventsResponse)
    ),
    AUDIT + "GetAuditEvent": Rule(READ_AUDIT, "project_id", hidden=audit_event_not_found),
    AUDIT + "StreamAuditEvents": Rule(READ_AUDIT, filtered=True),
    # --- service tokens: admins only
    TOKENS + "CreateServiceToken": Rule(CREATE, admin=True),
    TOKENS + "ListServiceTokens": Rule(READ, admin=True),
    TOKENS + "RevokeServiceToken": Rule(DELETE, admin=True),
}
