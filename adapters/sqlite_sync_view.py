"""The secret_syncs view in the embedded SQLite database."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder

from adapters.sync_view import COLUMNS, SecretSyncView, SyncRow


class SQLiteSecretSyncView(SQLiteTrackingRecorder, SecretSyncView):
    def __init__(self, datastore: SQLiteDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS secret_syncs ("
            "id TEXT PRIMARY KEY, project_id TEXT NOT NULL, name TEXT NOT NULL, "
            "connection_id TEXT NOT NULL, environment TEXT NOT NULL, "
            "sync_status TEXT NOT NULL, open_jobs INTEGER NOT NULL, version INTEGER NOT NULL, "
            "state TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS secret_syncs_project_name "
            "ON secret_syncs (project_id, name)",
            "CREATE INDEX IF NOT EXISTS secret_syncs_status ON secret_syncs (sync_status)",
            "CREATE INDEX IF NOT EXISTS secret_syncs_open_jobs ON secret_syncs (open_jobs) "
            "WHERE open_jobs > 0",
        ]

    def save_row(self, row: SyncRow, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                f"INSERT OR REPLACE INTO secret_syncs ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    row.id,
                    row.project_id,
                    row.name,
                    row.connection_id,
                    row.environment,
                    row.sync_status,
                    row.open_jobs,
                    row.version,
                    row.state,
                ),
            )
            self._insert_tracking(c, tracking)

    def delete_row(self, sync_id: str, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute("DELETE FROM secret_syncs WHERE id = ?", (sync_id,))
            self._insert_tracking(c, tracking)

    def _select(self, where: str, params: list[Any], tail: str = "") -> list[SyncRow]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT {COLUMNS} FROM secret_syncs WHERE {where} {tail}", params)
            return [SyncRow(*tuple(r)) for r in c.fetchall()]

    def reset(self, application_name: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            for statement in super().construct_create_table_statements():  # tracking only
                c.execute(statement)
            c.execute("DROP TABLE IF EXISTS secret_syncs")
            c.execute("DELETE FROM tracking WHERE application_name = ?", (application_name,))
        self.create_table()

    def columns(self) -> set[str]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT name FROM pragma_table_info('secret_syncs')")
            return {r[0] for r in c.fetchall()}
