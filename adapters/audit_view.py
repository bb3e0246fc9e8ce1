"""The audit log's read model: one row an audited event, in one total order.

Rows are only ever appended. Each gets the next `position` (1, 2, 3, ...) in the
same transaction that records the follower's tracking position, and each store
makes audit writers take turns for the whole transaction (`_exclusive`), so a
position is committed before the next one is handed out. A reader that has seen
position N has therefore seen every row before it: streams and pages by position
have no gaps, whichever of the three followers (or server processes) wrote them.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Tracking, TrackingRecorder

from domain.audit import AuditEntry

COLUMNS = (
    "position, project_id, resource_type, resource_id, resource_name, event_type, version, "
    "occurred_us, actor, request_id, job_id, summary"
)
# Index name suffix -> columns. Every filter is an equality on a prefix of one of
# these followed by a range on position, so a page is an index range scan whatever
# the history's size; the time index narrows time-window queries.
INDEXES = (
    ("project", "project_id, position"),
    ("resource", "project_id, resource_id, position"),
    ("actor", "project_id, actor, position"),
    ("type", "project_id, event_type, position"),
    ("resource_type", "project_id, resource_type, position"),
    ("time", "project_id, occurred_us, position"),
)


@dataclass(frozen=True)
class AuditRow:
    position: int
    project_id: str
    resource_type: str
    resource_id: str
    resource_name: str
    event_type: str
    version: int
    occurred_us: int
    actor: str
    request_id: str
    job_id: str
    summary: str  # JSON of the entry's summary

    def summary_dict(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.summary)
        return loaded


@dataclass(frozen=True)
class AuditQuery:
    """One page of audit rows: every filter given must match (empty means any)."""

    limit: int
    project_id: str = ""
    resource_id: str = ""
    resource_type: str = ""
    event_types: tuple[str, ...] = ()
    actor: str = ""
    start_us: int | None = None  # inclusive
    end_us: int | None = None  # exclusive
    newest_first: bool = False
    after: int = 0  # the previous page's last position; 0 for the first page


class AuditView(TrackingRecorder):
    """What the audit projection writes and the audit API reads."""

    placeholder = "?"  # the driver's parameter marker

    @abstractmethod
    def _exclusive(self) -> AbstractContextManager[Any]:
        """A write transaction (its cursor) that no other audit writer runs beside."""

    @abstractmethod
    def _sql(self, text: str) -> Any:
        """A statement with {events} and {resources} replaced by the table names."""

    @abstractmethod
    def _select(self, where: str, params: list[Any], tail: str) -> list[AuditRow]:
        """Rows matching a WHERE clause written with `placeholder`."""

    @abstractmethod
    def _insert_tracking(self, curs: Any, tracking: Tracking) -> None: ...

    @abstractmethod
    def _max_tracking_id(self, application_name: str, curs: Any) -> int | None: ...

    # --- writing -------------------------------------------------------------------

    def record(self, entry: AuditEntry | None, tracking: Tracking) -> int | None:
        """Append the entry (None: only track) with the tracking position, in one
        transaction. Returns its position, or None when nothing was appended: also
        when another server process on the same database recorded it first."""
        with self._exclusive() as curs:
            done = self._max_tracking_id(tracking.application_name, curs) or 0
            if done >= tracking.notification_id:
                return None
            position = None
            if entry is not None:
                position = self._append(curs, entry, tracking)
            self._insert_tracking(curs, tracking)
            return position

    def _append(self, curs: Any, entry: AuditEntry, tracking: Tracking) -> int:
        mark = self.placeholder
        project_id, name = entry.project_id, entry.resource_name
        if project_id is None or name is None:  # events after the first carry neither
            curs.execute(
                self._sql(f"SELECT project_id, name FROM {{resources}} WHERE id = {mark}"),
                (entry.resource_id,),
            )
            known = curs.fetchone()
            project_id = project_id if project_id is not None else known and known["project_id"]
            name = name if name is not None else known and known["name"]
        if entry.project_id is not None or entry.resource_name is not None:
            self._remember(curs, entry, project_id or "", name or "")
        curs.execute(self._sql("SELECT COALESCE(MAX(position), 0) + 1 AS next FROM {events}"))
        position = int(curs.fetchone()["next"])
        values = (
            position,
            project_id or "",
            entry.resource_type,
            entry.resource_id,
            name or "",
            entry.event_type,
            entry.version,
            entry.occurred_us,
            entry.actor,
            entry.request_id,
            entry.job_id,
            json.dumps(entry.summary, sort_keys=True, separators=(",", ":")),
            tracking.application_name,
            tracking.notification_id,
        )
        statement = (
            f"INSERT INTO {{events}} ({COLUMNS}, application, notification_id) "
            f"VALUES ({', '.join([mark] * len(values))})"
        )
        curs.execute(self._sql(statement), values)
        return position

    def _remember(self, curs: Any, entry: AuditEntry, project_id: str, name: str) -> None:
        """The resource's project and name, for its later events (which lack them)."""
        mark = self.placeholder
        curs.execute(
            self._sql(
                f"INSERT INTO {{resources}} (id, project_id, resource_type, name) "
                f"VALUES ({mark}, {mark}, {mark}, {mark}) "
                "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name"
            ),
            (entry.resource_id, project_id, entry.resource_type, name),
        )

    # --- reading -------------------------------------------------------------------

    def list_rows(self, query: AuditQuery) -> list[AuditRow]:
        where, params = query_clauses(query, self.placeholder)
        order = "DESC" if query.newest_first else "ASC"
        tail = f"ORDER BY position {order} LIMIT {self.placeholder}"
        return self._select(where, [*params, query.limit], tail)

    def get_row(self, project_id: str, position: int) -> AuditRow | None:
        mark = self.placeholder
        where = f"project_id = {mark} AND position = {mark}"
        rows = self._select(where, [project_id, position], "")
        return rows[0] if rows else None

    def rows_after(self, position: int, limit: int, project_id: str = "") -> list[AuditRow]:
        """The next rows after `position`, oldest first: what a stream sends next."""
        return self.list_rows(AuditQuery(limit=limit, project_id=project_id, after=position))

    def last_position(self) -> int:
        rows = self._select("1 = 1", [], "ORDER BY position DESC LIMIT 1")
        return rows[0].position if rows else 0

    def rows(self) -> Iterator[AuditRow]:
        """Every row, oldest first, a page at a time (for tests and tooling)."""
        after = 0
        while page := self.rows_after(after, 500):
            yield from page
            after = page[-1].position


def query_clauses(query: AuditQuery, mark: str) -> tuple[str, list[Any]]:
    """The WHERE clause of an audit query, shared by the SQL views."""
    clauses: list[str] = []
    params: list[Any] = []
    for column in ("project_id", "resource_id", "resource_type", "actor"):
        value = getattr(query, column)
        if value:
            clauses.append(f"{column} = {mark}")
            params.append(value)
    if query.event_types:
        clauses.append(f"event_type IN ({', '.join([mark] * len(query.event_types))})")
        params += list(query.event_types)
    if query.start_us is not None:
        clauses.append(f"occurred_us >= {mark}")
        params.append(query.start_us)
    if query.end_us is not None:
        clauses.append(f"occurred_us < {mark}")
        params.append(query.end_us)
    if query.after:
        clauses.append(f"position {'<' if query.newest_first else '>'} {mark}")
        params.append(query.after)
    return " AND ".join(clauses) or "1 = 1", params
