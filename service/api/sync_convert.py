"""Translation between the gRPC messages and the domain's words."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api

from domain.errors import FieldViolation, InvalidArgument, echo
from domain.options import (
    CONNECTION_APP,
    DESTINATION,
    ImportBehavior,
    InitialSyncBehavior,
    JobKind,
)
from domain.plan import Action, Step
from domain.rules import SyncSettings
from domain.sync_record import SyncRecord

INITIAL_SYNC_BEHAVIORS = {
    pb.INITIAL_SYNC_BEHAVIOR_OVERWRITE_DESTINATION: InitialSyncBehavior.OVERWRITE_DESTINATION,
    pb.INITIAL_SYNC_BEHAVIOR_IMPORT_PRIORITIZE_SOURCE: InitialSyncBehavior.IMPORT_PRIORITIZE_SOURCE,
    pb.INITIAL_SYNC_BEHAVIOR_IMPORT_PRIORITIZE_DESTINATION: (
        InitialSyncBehavior.IMPORT_PRIORITIZE_DESTINATION
    ),
}
INITIAL_SYNC_BEHAVIOR_NUMBERS = {v: k for k, v in INITIAL_SYNC_BEHAVIORS.items()}
IMPORT_BEHAVIORS = {
    pb.IMPORT_BEHAVIOR_PRIORITIZE_SOURCE: ImportBehavior.PRIORITIZE_SOURCE,
    pb.IMPORT_BEHAVIOR_PRIORITIZE_DESTINATION: ImportBehavior.PRIORITIZE_DESTINATION,
}
JOB_STATUSES = {
    None: pb.JOB_STATUS_UNSPECIFIED,
    "pending": pb.JOB_STATUS_PENDING,
    "running": pb.JOB_STATUS_RUNNING,
    "succeeded": pb.JOB_STATUS_SUCCEEDED,
    "failed": pb.JOB_STATUS_FAILED,
}
JOB_STATUS_NAMES = {number: name for name, number in JOB_STATUSES.items() if name}

# update_mask path -> the settings fields it changes.
MASK_PATHS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "description": ("description",),
    "is_enabled": ("is_enabled",),
    "connection_id": ("connection_id",),
    "environment": ("environment",),
    "secret_path": ("secret_path",),
    "sync_options": (
        "initial_sync_behavior",
        "key_schema",
        "disable_secret_deletion",
        "refresh_interval_seconds",
    ),
    "sync_options.initial_sync_behavior": ("initial_sync_behavior",),
    "sync_options.key_schema": ("key_schema",),
    "sync_options.disable_secret_deletion": ("disable_secret_deletion",),
    "sync_options.refresh_interval_seconds": ("refresh_interval_seconds",),
    "destination_config": ("vault_base_url",),
    "destination_config.vault_base_url": ("vault_base_url",),
}


def settings_from(request: Any) -> SyncSettings:
    """Settings from a create or update request (both use the same field names)."""
    return SyncSettings(
        name=request.name,
        description=request.description,
        is_enabled=request.is_enabled,
        connection_id=request.connection_id,
        environment=request.environment,
        secret_path=request.secret_path,
        vault_base_url=request.destination_config.vault_base_url,
        initial_sync_behavior=INITIAL_SYNC_BEHAVIORS.get(
            request.sync_options.initial_sync_behavior
        ),
        key_schema=request.sync_options.key_schema,
        disable_secret_deletion=request.sync_options.disable_secret_deletion,
        refresh_interval_seconds=request.sync_options.refresh_interval_seconds,
    )


def masked_fields(request: Any) -> dict[str, Any]:
    """The settings fields an update request's mask names, with their new values."""
    paths = list(request.update_mask.paths)
    unknown = [p for p in paths if p not in MASK_PATHS]
    if not paths or unknown:
        why = (
            "must name at least one field"
            if not paths
            else f"cannot update {', '.join(echo(p) for p in unknown[:5])}; "
            f"updatable: {', '.join(MASK_PATHS)}"
        )
        raise InvalidArgument([FieldViolation("update_mask", why)])
    new = settings_from(request)
    return {
        field: getattr(new, field) for path in paths for field in MASK_PATHS[path]
    }


PLAN_ACTIONS = {
    Action.CREATE: api.PLAN_ACTION_CREATE,
    Action.UPDATE: api.PLAN_ACTION_UPDATE,
    Action.VERIFY: api.PLAN_ACTION_VERIFY,
    Action.DELETE: api.PLAN_ACTION_DELETE,
    Action.UNCHANGED: api.PLAN_ACTION_UNCHANGED,
    Action.LEAVE: api.PLAN_ACTION_LEAVE,
    Action.FAIL: api.PLAN_ACTION_FAIL,
}


def plan_step(step: Step) -> api.PlanStep:
    return api.PlanStep(
        action=PLAN_ACTIONS[step.action], name=step.name, key=step.key, reason=step.reason
    )


def timestamp(value: datetime | str | None) -> Timestamp | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def job_fields(sync: SyncRecord, kind: str, noun: str, done: str) -> dict[str, Any]:
    job = sync.jobs[kind]
    return {
        f"{kind}_status": JOB_STATUSES[job["status"]],
        f"last_{noun}_job_id": job["job_id"],
        f"last_{noun}_message": job["message"],
        f"last_{done}_at": timestamp(job["succeeded_at"]),
    }


def sync_to_proto(sync: SyncRecord) -> pb.SecretSync:
    """The one conversion of a sync to its message: from the view's record (an aggregate
    is first made a record: `SyncRecord.of`)."""
    return pb.SecretSync(
        id=str(sync.id),
        name=sync.name,
        description=sync.description,
        is_enabled=sync.is_enabled,
        version=sync.version,
        project_id=sync.project_id,
        connection_id=sync.connection_id,
        connection=pb.ConnectionSummary(app=CONNECTION_APP, id=sync.connection_id),
        environment=pb.EnvironmentSummary(
            slug=sync.environment,
            name=sync.source["environment_name"],
            id=sync.source["environment_id"],
        ),
        folder=pb.FolderSummary(id=sync.source["folder_id"], path=sync.secret_path),
        source_problem=sync.source["problem"],
        destination=DESTINATION,
        destination_config=pb.AzureKeyVaultDestinationConfig(
            vault_base_url=sync.vault_base_url
        ),
        sync_options=pb.SyncOptions(
            initial_sync_behavior=INITIAL_SYNC_BEHAVIOR_NUMBERS[
                InitialSyncBehavior(sync.initial_sync_behavior)
            ],
            key_schema=sync.key_schema,
            disable_secret_deletion=sync.disable_secret_deletion,
            refresh_interval_seconds=sync.refresh_interval_seconds,
        ),
        created_at=timestamp(sync.created_at),
        updated_at=timestamp(sync.updated_at),
        etag=sync.etag,
        **job_fields(sync, "sync", "sync", "synced"),
        **job_fields(sync, "import", "import", "imported"),
        **job_fields(sync, "remove", "remove", "removed"),
        **retry_fields(sync),
    )


def retry_fields(sync: SyncRecord) -> dict[str, Any]:
    """The scheduled retry of a failed sync job (domain/retry_policy.py), if any."""
    attempt, at = sync.job_retry(JobKind.SYNC)
    if not at:
        return {}
    return {"sync_retry_attempt": attempt, "next_sync_retry_time": timestamp(at)}
