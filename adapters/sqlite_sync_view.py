"""The secret_syncs view in the embedded SQLite database."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder

from adapters.sqlite_immediate import immediate
from adapters.sync_view import COLUMNS, INDEXES, SecretSyncView, SyncRow


class SQLiteSecretSyncView(SQLiteTrackingRecorder, SecretSyncView):
    def __init__(self, datastore: SQLiteDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {self.table} ("
            "id TEXT PRIMARY KEY, project_id TEXT NOT NULL, name TEXT NOT NULL, "
            "connection_id TEXT NOT NULL, environment TEXT NOT NULL, "
            "sync_status TEXT NOT NULL, open_jobs INTEGER NOT NULL, version INTEGER NOT NULL, "
            "record TEXT NOT NULL)",
            *index_statements(self.table),
        ]

    def save_row(self, row: SyncRow, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                f"INSERT OR REPLACE INTO {self.table} ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                row.values(),
            )
            self._insert_tracking(c, tracking)

    def save_rows(self, rows: list[SyncRow], deleted: list[str], tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as c:
            marks = ",".join("?" * len(COLUMNS.split(", ")))
            c.executemany(
                f"INSERT OR REPLACE INTO {self.table} ({COLUMNS}) VALUES ({marks})",
                [row.values() for row in rows],
            )
            c.executemany(f"DELETE FROM {self.table} WHERE id = ?", [(i,) for i in deleted])
            self._insert_tracking(c, tracking)

    def delete_row(self, sync_id: str, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"DELETE FROM {self.table} WHERE id = ?", (sync_id,))
            self._insert_tracking(c, tracking)

    def _select(self, where: str, params: list[Any], tail: str = "") -> list[SyncRow]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT {COLUMNS} FROM {self.table} WHERE {where} {tail}", params)
            return [SyncRow(*tuple(r)) for r in c.fetchall()]

    def reset(self, application_name: str) -> None:
        with immediate(self.datastore) as c:
            for statement in super().construct_create_table_statements():  # tracking only
                c.execute(statement)
            c.execute(f"DROP TABLE IF EXISTS {self.table}")
            c.execute("DELETE FROM tracking WHERE application_name = ?", (application_name,))
            for statement in self.construct_create_table_statements():
                c.execute(statement)  # made here: the library's own would be a deferred write
        self.create_table()  # its checks only: every table is there

    def columns(self) -> set[str]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT name FROM pragma_table_info(?)", (self.table,))
            return {r[0] for r in c.fetchall()}

    def swap_in(self, next_table: str, application_name: str, next_tracking: str) -> bool:
        try:
            with immediate(self.datastore) as c:
                if not self._swap(c, next_table, application_name, next_tracking):
                    raise _NotCaughtUp  # rolls back (nothing was changed)
        except _NotCaughtUp:
            return False
        return True

    def _swap(self, c: Any, next_table: str, application: str, next_tracking: str) -> bool:
        positions = []
        for name in (application, next_tracking):
            c.execute(
                "SELECT MAX(notification_id) FROM tracking WHERE application_name = ?", (name,)
            )
            positions.append(c.fetchone()[0] or 0)
        if positions[0] != positions[1]:
            return False
        c.execute(f"DROP TABLE {self.table}")
        c.execute(f"ALTER TABLE {next_table} RENAME TO {self.table}")
        for suffix in INDEXES:  # SQLite cannot rename an index: make it under its name
            c.execute(f"DROP INDEX IF EXISTS {next_table}_{suffix}")
        for statement in index_statements(self.table):
            c.execute(statement)
        c.execute("DELETE FROM tracking WHERE application_name = ?", (application,))
        c.execute(
            "UPDATE tracking SET application_name = ? WHERE application_name = ?",
            (application, next_tracking),
        )
        return True


def index_statements(table: str) -> list[str]:
    return [
        f"CREATE INDEX IF NOT EXISTS {table}_{suffix} ON {table} {what}"
        for suffix, what in INDEXES.items()
    ]


class _NotCaughtUp(Exception):
    """The live view moved on while the next one caught up: try again."""
