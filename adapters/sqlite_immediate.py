"""A SQLite transaction that holds the write lock from its start (BEGIN IMMEDIATE).

A plain BEGIN takes the lock at the first write; in WAL mode, a transaction that
read first and writes after another connection committed fails at once with
SQLITE_BUSY_SNAPSHOT instead of waiting. Taking the lock at the start makes other
writers wait (for SQLITE_LOCK_TIMEOUT) while readers go on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from eventsourcing.sqlite import SQLiteCursor, SQLiteDatastore


@contextmanager
def immediate(datastore: SQLiteDatastore) -> Iterator[SQLiteCursor]:
    """Commits when the block ends, rolls back if it raises."""
    with datastore.get_connection(commit=True) as conn:
        cursor = conn.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            yield cursor
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            cursor.sqlite_cursor.close()
