"""The secret_syncs view in PostgreSQL, beside the event store."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg.sql import SQL, Composed, Identifier

from adapters.sync_view import COLUMNS, SecretSyncView, SyncRow


class PostgresSecretSyncView(PostgresTrackingRecorder, SecretSyncView):
    placeholder = "%s"

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.tracking_statements = list(self.sql_create_statements)
        self.sql_create_statements += [
            self._sql(
                "CREATE TABLE IF NOT EXISTS {view} ("
                'id text PRIMARY KEY, project_id text NOT NULL, name text COLLATE "C" NOT NULL, '
                "connection_id text NOT NULL, environment text NOT NULL, "
                "sync_status text NOT NULL, open_jobs integer NOT NULL, version bigint NOT NULL, "
                "state text NOT NULL)"
            ),
            self._sql(
                "CREATE INDEX IF NOT EXISTS secret_syncs_project_name ON {view} (project_id, name)"
            ),
            self._sql("CREATE INDEX IF NOT EXISTS secret_syncs_status ON {view} (sync_status)"),
            self._sql(
                "CREATE INDEX IF NOT EXISTS secret_syncs_open_jobs ON {view} (open_jobs) "
                "WHERE open_jobs > 0"
            ),
        ]

    def _sql(self, text: str) -> Composed:
        return SQL(text).format(
            view=Identifier(self.datastore.schema, "secret_syncs"),
            tracking=Identifier(self.datastore.schema, self.tracking_table_name),
        )

    def save_row(self, row: SyncRow, tracking: Tracking) -> None:
        statement = self._sql(
            f"INSERT INTO {{view}} ({COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s) "
            "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, "
            "connection_id = EXCLUDED.connection_id, environment = EXCLUDED.environment, "
            "sync_status = EXCLUDED.sync_status, open_jobs = EXCLUDED.open_jobs, "
            "version = EXCLUDED.version, state = EXCLUDED.state"
        )
        values = (
            row.id,
            row.project_id,
            row.name,
            row.connection_id,
            row.environment,
            row.sync_status,
            row.open_jobs,
            row.version,
            row.state,
        )
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(statement, values, prepare=True)
            self._insert_tracking(curs, tracking)

    def delete_row(self, sync_id: str, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._sql("DELETE FROM {view} WHERE id = %s"), (sync_id,))
            self._insert_tracking(curs, tracking)

    def _select(self, where: str, params: list[Any], tail: str = "") -> list[SyncRow]:
        statement = self._sql(f"SELECT {COLUMNS} FROM {{view}} WHERE {where} {tail}")
        # One statement on an autocommit connection: a round trip, not three
        # (BEGIN, SELECT, ROLLBACK) as a transaction would cost.
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params, prepare=True)
            return [SyncRow(**r) for r in curs.fetchall()]

    def reset(self, application_name: str) -> None:
        with self.datastore.transaction(commit=True) as curs:
            for statement in self.tracking_statements:
                curs.execute(statement)
            curs.execute(self._sql("DROP TABLE IF EXISTS {view}"))
            curs.execute(
                self._sql("DELETE FROM {tracking} WHERE application_name = %s"),
                (application_name,),
            )
        self.create_table()

    def columns(self) -> set[str]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = 'secret_syncs'",
                (self.datastore.schema or "public",),
            )
            return {r["column_name"] for r in curs.fetchall()}
