"""What the audit log says about each domain event: an allow-listed description.

Only what is named here reaches an audit record. Events that carry secret material
(ciphertexts, fingerprints, wrapped keys, sealed credentials) are described by what
changed (keys, field names, counts, names), never by copying the event, so a field
added to an event later stays out of the audit until someone adds it here on purpose.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.connection import AzureConnection
from domain.folder import Folder
from domain.options import JobStatus
from domain.project import Project
from domain.secret_sync import SecretSync
from domain.service_token import ServiceToken

SECRET_SYNC, CONNECTION, FOLDER, PROJECT = "secret_sync", "connection", "folder", "project"
SERVICE_TOKEN = "service_token"
RESOURCE_TYPES = (SECRET_SYNC, CONNECTION, FOLDER, PROJECT, SERVICE_TOKEN)
# Service-wide events (service tokens) belong to no project: the audit files them under
# this nil project id; reading them takes the admin grant.
SERVICE_PROJECT = "00000000-0000-0000-0000-000000000000"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SYNC_DETAILS = ("name", "environment", "secret_path", "connection_id", "vault_base_url")


@dataclass(frozen=True)
class AuditEntry:
    """One audit record before the log gives it a position."""

    event_type: str  # e.g. "secret_sync.created"
    resource_type: str  # one of RESOURCE_TYPES
    resource_id: str
    version: int  # the resource's version after the event
    occurred_us: int  # when the event happened, microseconds since the Unix epoch
    actor: str
    request_id: str
    project_id: str | None = None  # None: the project the resource was created in
    resource_name: str | None = None  # None: the resource's name as last recorded
    job_id: str = ""
    summary: dict[str, Any] = field(default_factory=dict)


Describer = Callable[[Any], dict[str, Any]]  # AuditEntry fields besides the common ones


def _nothing(event: Any) -> dict[str, Any]:
    return {}


def _sync_created(event: SecretSync.Created) -> dict[str, Any]:
    settings = event.settings
    details = {name: str(settings[name]) for name in SYNC_DETAILS}
    details["is_enabled"] = "true" if settings["is_enabled"] else "false"
    return {
        "project_id": event.project_id,
        "resource_name": settings["name"],
        "summary": {"details": details},
    }


def _sync_updated(event: SecretSync.Updated) -> dict[str, Any]:
    # Names of the changed fields only: old and new values stay in the event log.
    described: dict[str, Any] = {"summary": {"changed_fields": sorted(event.changes)}}
    if "name" in event.changes:
        described["resource_name"] = event.changes["name"][1]
    return described


def _source_located(event: SecretSync.SourceLocated) -> dict[str, Any]:
    details = {"folder_id": event.folder_id, "environment_name": event.environment_name}
    return {"summary": {"details": details}}


def _source_lost(event: SecretSync.SourceLost) -> dict[str, Any]:
    return {"summary": {"message": event.problem}}


def _job_requested(event: SecretSync.JobRequested) -> dict[str, Any]:
    details = {"job_kind": event.kind}
    if isinstance(event, SecretSync.SyncRequested):
        details["reason"] = event.reason
    elif isinstance(event, SecretSync.ImportRequested):
        details["import_behavior"] = event.import_behavior
    elif isinstance(event, SecretSync.RemoveRequested):
        details["then_delete"] = "true" if event.then_delete else "false"
    summary = {"job_status": JobStatus.PENDING.value, "details": details}
    return {"job_id": event.job_id, "summary": summary}


def _job_started(event: SecretSync.JobStarted) -> dict[str, Any]:
    details = {"job_kind": event.kind, "worker": event.worker}
    summary = {"job_status": JobStatus.RUNNING.value, "details": details}
    return {"job_id": event.job_id, "summary": summary}


def _job_finished(event: SecretSync.JobFinished) -> dict[str, Any]:
    succeeded = isinstance(event, SecretSync.JobSucceeded)
    status = JobStatus.SUCCEEDED if succeeded else JobStatus.FAILED
    details = {"job_kind": event.kind}
    if getattr(event, "retry_at", ""):  # a transient failure, retried by itself
        details |= {"retry_attempt": str(event.retry_attempt), "retry_at": event.retry_at}
    summary = {
        "job_status": status.value,
        "counts": {name: int(n) for name, n in event.counts.items()},
        "message": event.message,
        "details": details,
    }
    return {"job_id": event.job_id, "summary": summary}


def _folder_created(event: Folder.Created) -> dict[str, Any]:
    return {
        "project_id": event.project_id,
        "resource_name": f"{event.environment}:{event.path}",
        "summary": {"details": {"environment": event.environment, "path": event.path}},
    }


def _secrets_set(event: Folder.SecretsSet) -> dict[str, Any]:
    # Keys only: each item also holds the value's ciphertext and fingerprint.
    keys = [item["key"] for item in event.items]
    return {"summary": {"secret_keys": keys, "counts": {"set": len(keys)}}}


def _secret_deleted(event: Folder.SecretDeleted) -> dict[str, Any]:
    return {"summary": {"secret_keys": [event.key]}}


def _import_added(event: Folder.ImportAdded) -> dict[str, Any]:
    details = {
        "import_id": event.import_id,
        "source_environment": event.source_environment,
        "source_path": event.source_path,
    }
    return {"summary": {"details": details}}


def _import_removed(event: Folder.ImportRemoved) -> dict[str, Any]:
    return {"summary": {"details": {"import_id": event.import_id}}}


def _project_created(event: Project.Created) -> dict[str, Any]:
    # Never the wrapped data key.
    details = {"name": event.name, "slug": event.slug}
    return {"resource_name": event.slug, "summary": {"details": details}}


def _environment_added(event: Project.EnvironmentAdded) -> dict[str, Any]:
    details = {
        "environment": event.slug,
        "name": event.name,
        "environment_id": event.environment_id,
    }
    return {"summary": {"details": details}}


def _root_key_of(wrapped: str) -> dict[str, Any]:
    # Which root key wraps it now (a public hash-prefix id), never the wrapped key.
    return {"summary": {"details": {"root_key_id": wrapped.partition(".")[0]}}}


def _data_key_rewrapped(event: Project.DataKeyRewrapped) -> dict[str, Any]:
    return _root_key_of(event.wrapped_data_key)


def _connection_key_rewrapped(event: AzureConnection.KeyRewrapped) -> dict[str, Any]:
    return _root_key_of(event.wrapped_key)


def _connection_created(event: AzureConnection.Created) -> dict[str, Any]:
    # Never the wrapped key or the sealed credentials; the ids are not secrets
    # (GetAzureConnection shows them too).
    details = {
        "name": event.name,
        "cloud": event.cloud,
        "auth_method": event.auth_method,
        "tenant_id": event.tenant_id,
        "client_id": event.client_id,
    }
    return {
        "project_id": event.project_id,
        "resource_name": event.name,
        "summary": {"details": details},
    }


def _token_created(event: ServiceToken.Created) -> dict[str, Any]:
    # Never the token's hash: the name, who it acts as, its grants and its expiry.
    details = {
        "name": event.name,
        "principal": event.principal,
        "grants": json.dumps(event.grants, sort_keys=True),
        "expires_at": event.expires_at.isoformat(),
    }
    return {
        "project_id": SERVICE_PROJECT,
        "resource_name": event.name,
        "summary": {"details": details},
    }


# event class -> (stable event type name, resource type, describer). The names are
# part of the API (filters use them): add new ones, never rename one.
EVENTS: dict[type, tuple[str, str, Describer]] = {
    SecretSync.Created: ("secret_sync.created", SECRET_SYNC, _sync_created),
    SecretSync.Updated: ("secret_sync.updated", SECRET_SYNC, _sync_updated),
    SecretSync.SourceLocated: ("secret_sync.source_located", SECRET_SYNC, _source_located),
    SecretSync.SourceLost: ("secret_sync.source_lost", SECRET_SYNC, _source_lost),
    SecretSync.SyncRequested: ("secret_sync.sync_requested", SECRET_SYNC, _job_requested),
    SecretSync.ImportRequested: ("secret_sync.import_requested", SECRET_SYNC, _job_requested),
    SecretSync.RemoveRequested: ("secret_sync.remove_requested", SECRET_SYNC, _job_requested),
    SecretSync.JobStarted: ("secret_sync.job_started", SECRET_SYNC, _job_started),
    SecretSync.JobSucceeded: ("secret_sync.job_succeeded", SECRET_SYNC, _job_finished),
    SecretSync.JobFailed: ("secret_sync.job_failed", SECRET_SYNC, _job_finished),
    SecretSync.Deleted: ("secret_sync.deleted", SECRET_SYNC, _nothing),
    Folder.Created: ("folder.created", FOLDER, _folder_created),
    Folder.Revived: ("folder.recreated", FOLDER, _nothing),
    Folder.Deleted: ("folder.deleted", FOLDER, _nothing),
    Folder.ImportAdded: ("folder.import_added", FOLDER, _import_added),
    Folder.ImportRemoved: ("folder.import_removed", FOLDER, _import_removed),
    Folder.SecretsSet: ("secret.set", FOLDER, _secrets_set),
    Folder.SecretDeleted: ("secret.deleted", FOLDER, _secret_deleted),
    Project.Created: ("project.created", PROJECT, _project_created),
    Project.EnvironmentAdded: ("project.environment_added", PROJECT, _environment_added),
    Project.DataKeyRewrapped: ("project.data_key_rewrapped", PROJECT, _data_key_rewrapped),
    AzureConnection.Created: ("connection.created", CONNECTION, _connection_created),
    AzureConnection.Deleted: ("connection.deleted", CONNECTION, _nothing),
    AzureConnection.KeyRewrapped: (
        "connection.key_rewrapped",
        CONNECTION,
        _connection_key_rewrapped,
    ),
    ServiceToken.Created: ("service_token.created", SERVICE_TOKEN, _token_created),
    ServiceToken.Revoked: ("service_token.revoked", SERVICE_TOKEN, _nothing),
}
EVENT_TYPES = frozenset(name for name, _, _ in EVENTS.values())
# Bookkeeping that changes nothing a person did: a folder's list of children (the
# child's own "folder.created" / "folder.deleted" says it) and a running job's
# lease renewals. Every other event class of these aggregates must be in EVENTS.
LEFT_OUT: tuple[type, ...] = (
    Folder.ChildAdded,
    Folder.ChildRemoved,
    SecretSync.LeaseRenewed,
)


def audited_events(*aggregates: Any) -> tuple[type, ...]:
    """The audited event classes of the given aggregate classes."""
    bases = tuple(aggregate.Event for aggregate in aggregates)
    return tuple(cls for cls in EVENTS if issubclass(cls, bases))


def describe(event: Any) -> AuditEntry | None:
    """The audit entry of a domain event; None for events the audit leaves out
    (bookkeeping such as name claims, indexes and a folder's list of children)."""
    known = EVENTS.get(type(event))
    if known is None:
        return None
    event_type, resource_type, describer = known
    resource_id = str(event.originator_id)
    fields: dict[str, Any] = {
        "event_type": event_type,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "version": int(event.originator_version),
        "occurred_us": microseconds(event.timestamp),
        "actor": event.actor,
        "request_id": event.request_id,
        "project_id": resource_id if resource_type == PROJECT else None,
        **describer(event),
    }
    if fields["project_id"] is not None:  # ids are compared lowercase everywhere
        fields["project_id"] = fields["project_id"].lower()
    return AuditEntry(**fields)


def microseconds(moment: datetime) -> int:
    """Microseconds since the Unix epoch: exact, and ordered the same in every store."""
    return (moment - EPOCH) // timedelta(microseconds=1)
