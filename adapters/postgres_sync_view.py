"""The secret_syncs view in PostgreSQL, beside the event store."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg.sql import SQL, Composed, Identifier

from adapters.sync_view import COLUMNS, INDEXES, SecretSyncView, SyncRow


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
                "record text NOT NULL)"
            ),
            *(
                SQL("CREATE INDEX IF NOT EXISTS {index} ON {view} " + what).format(
                    index=Identifier(f"{self.table}_{suffix}"),
                    view=Identifier(self.datastore.schema, self.table),
                )
                for suffix, what in INDEXES.items()
            ),
        ]

    def _sql(self, text: str) -> Composed:
        return SQL(text).format(
            view=Identifier(self.datastore.schema, self.table),
            tracking=Identifier(self.datastore.schema, self.tracking_table_name),
        )

    def save_row(self, row: SyncRow, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._upsert(), row.values(), prepare=True)
            self._insert_tracking(curs, tracking)

    def _upsert(self) -> Composed:
        return self._sql(
            f"INSERT INTO {{view}} ({COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s) "
            "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, "
            "connection_id = EXCLUDED.connection_id, environment = EXCLUDED.environment, "
            "sync_status = EXCLUDED.sync_status, open_jobs = EXCLUDED.open_jobs, "
            "version = EXCLUDED.version, record = EXCLUDED.record"
        )

    def save_rows(self, rows: list[SyncRow], deleted: list[str], tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as curs:
            if rows:
                curs.executemany(self._upsert(), [row.values() for row in rows])
            if deleted:
                curs.execute(self._sql("DELETE FROM {view} WHERE id = ANY(%s)"), (deleted,))
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
                "WHERE table_schema = %s AND table_name = %s",
                (self.datastore.schema or "public", self.table),
            )
            return {r["column_name"] for r in curs.fetchall()}

    def swap_in(self, next_table: str, application_name: str, next_tracking: str) -> bool:
        try:
            self._swap(next_table, application_name, next_tracking)
        except _NotCaughtUp:
            return False
        return True

    def _swap(self, next_table: str, application_name: str, next_tracking: str) -> None:
        schema = self.datastore.schema
        with self.datastore.transaction(commit=True) as curs:
            # EXCLUSIVE holds off the live projection's writes (in the order it takes
            # them: the view, then tracking) and lets reads go on.
            curs.execute(self._sql("LOCK TABLE {view}, {tracking} IN EXCLUSIVE MODE"))
            positions = []
            for name in (application_name, next_tracking):
                curs.execute(
                    self._sql(
                        "SELECT MAX(notification_id) AS at FROM {tracking} "
                        "WHERE application_name = %s"
                    ),
                    (name,),
                )
                positions.append(curs.fetchone()["at"] or 0)
            if positions[0] != positions[1]:
                raise _NotCaughtUp  # rolls the transaction back
            # Reads wait only for these few statements (DROP needs the table alone).
            curs.execute(self._sql("DROP TABLE {view}"))
            curs.execute(
                SQL("ALTER TABLE {next} RENAME TO {view}").format(
                    next=Identifier(schema, next_table), view=Identifier(self.table)
                )
            )
            for suffix in INDEXES:
                curs.execute(
                    SQL("ALTER INDEX {old} RENAME TO {new}").format(
                        old=Identifier(schema, f"{next_table}_{suffix}"),
                        new=Identifier(f"{self.table}_{suffix}"),
                    )
                )
            curs.execute(
                self._sql("DELETE FROM {tracking} WHERE application_name = %s"), (application_name,)
            )
            curs.execute(
                self._sql(
                    "UPDATE {tracking} SET application_name = %s WHERE application_name = %s"
                ),
                (application_name, next_tracking),
            )


class _NotCaughtUp(Exception):
    """The live view moved on while the next one caught up: try again."""
