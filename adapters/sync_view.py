"""The read model of secret syncs: one row a sync, written with its tracking position.

Each implementation keeps the row change and the tracking record in one
transaction, so the view never runs ahead of or behind what it says it has seen.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Tracking, TrackingRecorder

from domain.options import JobStatus
from domain.sync_record import SyncRecord

OPEN = (JobStatus.PENDING.value, JobStatus.RUNNING.value)  # a job the worker must look at


@dataclass(frozen=True)
class SyncRow:
    """A sync as the view stores it: the columns queries filter on, and its record
    (domain/sync_record.py) as JSON - what readers see, never its managed keys."""

    id: str
    project_id: str
    name: str
    connection_id: str
    environment: str
    sync_status: str  # "" while no sync job was ever requested
    open_jobs: int  # jobs (of any kind) pending or running: the worker's queue
    version: int
    record: str  # SyncRecord.to_json()

    @classmethod
    def of(cls, record: SyncRecord) -> SyncRow:
        return cls(
            id=record.id,
            project_id=record.project_id,
            name=record.name,
            connection_id=record.connection_id,
            environment=record.environment,
            sync_status=record.jobs["sync"]["status"] or "",
            open_jobs=sum(job["status"] in OPEN for job in record.jobs.values()),
            version=record.version,
            record=record.to_json(),
        )

    def values(self) -> tuple[Any, ...]:
        """The columns' values in COLUMNS order (dataclasses.astuple copies deeply: slow
        for a replay's thousands of rows)."""
        return (
            self.id,
            self.project_id,
            self.name,
            self.connection_id,
            self.environment,
            self.sync_status,
            self.open_jobs,
            self.version,
            self.record,
        )

    def to_record(self) -> SyncRecord:
        return SyncRecord.from_json(self.id, self.version, self.record)


@dataclass(frozen=True)
class SyncFilter:
    """One page of one project's syncs, by name, after `after_name`."""

    project_id: str
    limit: int
    after_name: str = ""
    connection_id: str = ""
    environment: str = ""
    sync_status: str = ""


class SecretSyncView(TrackingRecorder):
    """What the projection writes and the API reads.

    `table` is "secret_syncs"; an online rebuild fills a copy named NEXT_TABLE beside
    it and swaps it in (`swap_in`). Index names follow the table's name.
    """

    table = "secret_syncs"

    @abstractmethod
    def save_row(self, row: SyncRow, tracking: Tracking) -> None:
        """Insert or replace the row, and record the tracking position."""

    @abstractmethod
    def save_rows(self, rows: list[SyncRow], deleted: list[str], tracking: Tracking) -> None:
        """Many rows at once (a replay's batch): upsert `rows`, remove `deleted`, and
        record the tracking position, in one transaction."""

    @abstractmethod
    def delete_row(self, sync_id: str, tracking: Tracking) -> None:
        """Remove the row, and record the tracking position."""

    placeholder = "?"  # the driver's parameter marker

    @abstractmethod
    def _select(self, where: str, params: list[Any], tail: str = "") -> list[SyncRow]:
        """Rows matching a WHERE clause written with `placeholder`."""

    def get_row(self, sync_id: str) -> SyncRow | None:
        rows = self._select(f"id = {self.placeholder}", [sync_id])
        return rows[0] if rows else None

    def find_row(self, project_id: str, name: str) -> SyncRow | None:
        mark = self.placeholder
        rows = self._select(f"project_id = {mark} AND name = {mark}", [project_id, name])
        return rows[0] if rows else None

    def list_rows(self, query: SyncFilter) -> list[SyncRow]:
        where, params = filter_clauses(query, self.placeholder)
        tail = f"ORDER BY name LIMIT {self.placeholder}"
        return self._select(where, [*params, query.limit], tail)

    def rows_with_open_jobs(self, limit: int) -> list[SyncRow]:
        """Syncs with a job pending or running (the worker's queue)."""
        tail = f"ORDER BY id LIMIT {self.placeholder}"
        return self._select("open_jobs > 0", [limit], tail)

    def all_rows(self) -> list[SyncRow]:
        """Every row, ordered by id (for rebuild checks and tooling)."""
        return self._select("1 = 1", [], "ORDER BY id")

    @abstractmethod
    def reset(self, application_name: str) -> None:
        """Empty the view (re-made with the current columns) and forget its position,
        so a replay starts from zero."""

    @abstractmethod
    def swap_in(self, next_table: str, application_name: str, next_tracking: str) -> bool:
        """Replace this view's table by `next_table` and its position by the one tracked
        as `next_tracking`, in one transaction that holds off the live projection's
        writes (reads go on) - but only if both have reached the same event; else
        change nothing and return False (catch up and try again)."""

    @abstractmethod
    def columns(self) -> set[str]:
        """The columns the stored table has (none when there is no table yet)."""

    def is_current(self) -> bool:
        """False when the table was made by an older version: it must be rebuilt."""
        columns = self.columns()
        return not columns or set(COLUMNS.split(", ")) <= columns


def filter_clauses(query: SyncFilter, placeholder: str) -> tuple[str, list[str]]:
    """The WHERE clause of a list query, shared by the SQL views."""
    clauses = [f"project_id = {placeholder}", f"name > {placeholder}"]
    params = [query.project_id, query.after_name]
    for column in ("connection_id", "environment", "sync_status"):
        value = getattr(query, column)
        if value:
            clauses.append(f"{column} = {placeholder}")
            params.append(value)
    return " AND ".join(clauses), params


NEXT_TABLE = "secret_syncs_next"
INDEXES = {  # name suffix -> what it indexes
    "project_name": "(project_id, name)",
    "status": "(sync_status)",
    "open_jobs": "(open_jobs) WHERE open_jobs > 0",
}
# The record column was `state` (the aggregate's snapshot) before: a table with it is
# older, and is rebuilt (is_current).
COLUMNS = (
    "id, project_id, name, connection_id, environment, sync_status, open_jobs, version, record"
)
