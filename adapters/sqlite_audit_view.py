"""The audit log in the embedded SQLite database."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from eventsourcing.sqlite import SQLiteCursor, SQLiteDatastore, SQLiteTrackingRecorder

from adapters.audit_view import COLUMNS, INDEXES, AuditRow, AuditView
from adapters.sqlite_immediate import immediate

TRACKING = "audit_tracking"


class SQLiteAuditView(SQLiteTrackingRecorder, AuditView):
    def __init__(self, datastore: SQLiteDatastore, **kwargs: Any) -> None:
        if not datastore.single_row_tracking:
            raise ValueError("the audit log needs single-row tracking")
        super().__init__(datastore, **kwargs)
        # The library's SQLite tracking table ("tracking") is one per database file,
        # where the secret_syncs view and the auto-sync follower track the very
        # application names the audit follows too: the audit keeps its own table.
        self.insert_tracking_statement = (
            f"INSERT INTO {TRACKING} VALUES (:application_name, :notification_id) "
            "ON CONFLICT (application_name) DO UPDATE SET notification_id = :notification_id "
            f"WHERE {TRACKING}.notification_id < :notification_id RETURNING notification_id"
        )
        self.select_max_tracking_id_statement = (
            f"SELECT MAX(notification_id) FROM {TRACKING} WHERE application_name=?"
        )

    def construct_create_table_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {TRACKING} (application_name TEXT, "
            "notification_id INTEGER, PRIMARY KEY (application_name)) WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS audit_events ("
            "position INTEGER PRIMARY KEY, project_id TEXT NOT NULL, "
            "resource_type TEXT NOT NULL, resource_id TEXT NOT NULL, "
            "resource_name TEXT NOT NULL, event_type TEXT NOT NULL, version INTEGER NOT NULL, "
            "occurred_us INTEGER NOT NULL, actor TEXT NOT NULL, request_id TEXT NOT NULL, "
            "job_id TEXT NOT NULL, summary TEXT NOT NULL, application TEXT NOT NULL, "
            "notification_id INTEGER NOT NULL, UNIQUE (application, notification_id))",
            *(
                f"CREATE INDEX IF NOT EXISTS audit_events_{name} ON audit_events ({columns})"
                for name, columns in INDEXES
            ),
            "CREATE TABLE IF NOT EXISTS audit_resources (id TEXT PRIMARY KEY, "
            "project_id TEXT NOT NULL, resource_type TEXT NOT NULL, name TEXT NOT NULL)",
        ]

    def _sql(self, text: str) -> str:
        return text.format(events="audit_events", resources="audit_resources")

    def _exclusive(self) -> AbstractContextManager[SQLiteCursor]:
        # Audit writers take turns for the whole transaction (adapters/sqlite_immediate.py),
        # so a position is committed before the next is given, and reading the tracking
        # position first cannot fail when another writer commits in between.
        return immediate(self.datastore)

    def _select(self, where: str, params: list[Any], tail: str) -> list[AuditRow]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT {COLUMNS} FROM audit_events WHERE {where} {tail}", params)
            return [AuditRow(*tuple(r)) for r in c.fetchall()]
