"""How a sync reads in a terminal: one table row, one watch line, or every field."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as sync_pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as sync_api

from service.cli.output import NEVER, clip, enum_label, fields, table, timestamp

LIST_HEADERS = ("NAME", "STATUS", "LAST SYNCED", "MESSAGE")


def status(value: int) -> str:
    """JOB_STATUS_SUCCEEDED -> SUCCEEDED; never requested -> "-"."""
    return enum_label(sync_pb.JobStatus.Name(sync_pb.JobStatus.ValueType(value)), "JOB_STATUS_")


def initial_behavior(value: int) -> str:
    name = sync_pb.InitialSyncBehavior.Name(sync_pb.InitialSyncBehavior.ValueType(value))
    return enum_label(name, "INITIAL_SYNC_BEHAVIOR_").lower().replace("_", "-")


def list_table(syncs: list[sync_pb.SecretSync]) -> str:
    rows = [
        (s.name, status(s.sync_status), timestamp(s.last_synced_at), clip(_message(s)))
        for s in syncs
    ]
    return table(LIST_HEADERS, rows)


def _message(sync: sync_pb.SecretSync) -> str:
    """The latest sync job's message, or why the sync cannot read its source."""
    if sync.source_problem:
        return f"source: {sync.source_problem}"
    return sync.last_sync_message


def _every(seconds: int) -> str:
    """A refresh interval as a person reads it: "every 5 min", "off"."""
    if not seconds:
        return "off"
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds % size == 0:
            return f"every {seconds // size} {unit}"
    return f"every {seconds} s"


def details(sync: sync_pb.SecretSync) -> str:
    """Every field a person needs, in the order they are asked about."""
    options = sync.sync_options
    return fields(
        [
            ("id", sync.id),
            ("name", sync.name),
            ("description", sync.description or NEVER),
            ("project", sync.project_id),
            ("connection", sync.connection_id),
            ("source", f"{sync.environment.slug}:{sync.folder.path}"),
            ("vault", sync.destination_config.vault_base_url),
            ("auto-sync", "on" if sync.is_enabled else "off"),
            ("key schema", options.key_schema or "{{secretKey}} (default)"),
            ("initial sync", initial_behavior(options.initial_sync_behavior)),
            ("deletion", "disabled" if options.disable_secret_deletion else "enabled"),
            ("drift repair", _every(options.refresh_interval_seconds)),
            *_job(
                "sync",
                sync.sync_status,
                sync.last_synced_at,
                sync.last_sync_job_id,
                sync.last_sync_message,
            ),
            *_job(
                "import",
                sync.import_status,
                sync.last_imported_at,
                sync.last_import_job_id,
                sync.last_import_message,
            ),
            *_job(
                "remove",
                sync.remove_status,
                sync.last_removed_at,
                sync.last_remove_job_id,
                sync.last_remove_message,
            ),
            ("source problem", sync.source_problem or NEVER),
            ("created", timestamp(sync.created_at)),
            ("updated", timestamp(sync.updated_at)),
            ("version", str(sync.version)),
            ("etag", sync.etag),
        ]
    )


def _job(
    kind: str, value: int, succeeded_at: Timestamp, job_id: str, message: str
) -> list[tuple[str, str]]:
    line = status(value)
    if job_id:
        line += f" (job {job_id}; last succeeded {timestamp(succeeded_at)})"
    rows = [(kind, line)]
    if message:
        rows.append((f"{kind} message", message))
    return rows


def watch_line(message: sync_api.WatchSecretSyncResponse, job: str = "sync") -> str:
    """One line per change: when, which sync, the three job statuses, and the message of
    the job followed (sync, import or remove)."""
    sync = message.secret_sync
    if message.deleted:
        return f"{timestamp(sync.updated_at)} {sync.name} deleted"
    parts = [
        timestamp(sync.updated_at),
        sync.name,
        f"sync={status(sync.sync_status)}",
        f"import={status(sync.import_status)}",
        f"remove={status(sync.remove_status)}",
    ]
    text = _message(sync) if job == "sync" else getattr(sync, f"last_{job}_message")
    if text:
        parts.append(f"message={clip(text, 200)!r}")
    return " ".join(parts)


def plan_table(answer: sync_api.TriggerSecretSyncResponse) -> str:
    """The dry run: one row per key, then what blocks the whole sync, if anything."""
    rows = [
        (
            enum_label(sync_api.PlanAction.Name(step.action), "PLAN_ACTION_"),
            step.name or NEVER,
            step.key or NEVER,
            step.reason,
        )
        for step in answer.plan
    ]
    lines = [table(("ACTION", "VAULT NAME", "KEY", "REASON"), rows)]
    counts: dict[str, int] = {}
    for action, *_ in rows:
        counts[action] = counts.get(action, 0) + 1
    summary = ", ".join(f"{n} {action.lower()}" for action, n in sorted(counts.items()))
    lines.append(f"dry run: {summary or 'nothing to do'}; nothing was written")
    lines += [f"blocked: {reason}" for reason in answer.blocking]
    return "\n".join(lines)
