"""The audit log in PostgreSQL, beside the event store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from adapters.audit_view import COLUMNS, INDEXES, AuditRow, AuditView


class PostgresAuditView(PostgresTrackingRecorder, AuditView):
    placeholder = "%s"

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.sql_create_statements += [
            self._sql(
                "CREATE TABLE IF NOT EXISTS {events} ("
                "position bigint PRIMARY KEY, project_id text NOT NULL, "
                "resource_type text NOT NULL, resource_id text NOT NULL, "
                "resource_name text NOT NULL, event_type text NOT NULL, version bigint NOT NULL, "
                "occurred_us bigint NOT NULL, actor text NOT NULL, request_id text NOT NULL, "
                "job_id text NOT NULL, summary text NOT NULL, application text NOT NULL, "
                "notification_id bigint NOT NULL, UNIQUE (application, notification_id))"
            ),
            *(
                self._sql(
                    f"CREATE INDEX IF NOT EXISTS audit_events_{name} ON {{events}} ({columns})"
                )
                for name, columns in INDEXES
            ),
            self._sql(
                "CREATE TABLE IF NOT EXISTS {resources} (id text PRIMARY KEY, "
                "project_id text NOT NULL, resource_type text NOT NULL, name text NOT NULL)"
            ),
        ]

    def _sql(self, text: str) -> Composed:
        return SQL(text).format(
            events=Identifier(self.datastore.schema, "audit_events"),
            resources=Identifier(self.datastore.schema, "audit_resources"),
        )

    @contextmanager
    def _exclusive(self) -> Iterator[Cursor[DictRow]]:
        # Three followers (and maybe other server processes) append to the audit log.
        # Were positions taken and committed freely, a row committed late with a lower
        # position than one a reader has already seen would be skipped by that reader
        # for good. EXCLUSIVE mode conflicts with itself and with every writer but not
        # with SELECT (ACCESS SHARE): audit writers take turns until commit, readers go
        # on. It is how the library orders its own notification ids.
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._sql("LOCK TABLE {events} IN EXCLUSIVE MODE"))
            yield curs

    def _select(self, where: str, params: list[Any], tail: str) -> list[AuditRow]:
        statement = self._sql(f"SELECT {COLUMNS} FROM {{events}} WHERE {where} {tail}")
        # One statement on an autocommit connection: a round trip, not three.
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params, prepare=True)
            return [AuditRow(**r) for r in curs.fetchall()]
