"""The audit view on both stores: dense positions, no gaps for a reader while
several writers append, and each notification recorded once."""

from __future__ import annotations

import threading
import uuid

import pytest
from eventsourcing.persistence import Tracking

from adapters.audit_view import AuditQuery, AuditView
from domain.audit import FOLDER, AuditEntry
from service.runtime.config import Config
from service.views.audit_log import open_audit_view

WRITERS, EACH = 3, 40


@pytest.fixture
def view(database_url):
    view = open_audit_view(Config(database_url=database_url))
    yield view
    view.datastore.close()  # type: ignore[attr-defined]


def entry(resource_id: str, version: int, project_id: str | None = None) -> AuditEntry:
    return AuditEntry(
        event_type="folder.created" if project_id else "secret.set",
        resource_type=FOLDER,
        resource_id=resource_id,
        version=version,
        occurred_us=1_700_000_000_000_000 + version,
        actor="anonymous",
        request_id=f"r-{version}",
        project_id=project_id,
        resource_name="dev:/app" if project_id else None,
    )


def test_a_reader_never_sees_a_gap_while_writers_race(view: AuditView):
    project = str(uuid.uuid4())
    seen: list[int] = []
    done = threading.Event()
    gaps: list[tuple[int, int]] = []

    def write(app: str) -> None:
        folder = str(uuid.uuid4())
        view.record(entry(folder, 1, project), Tracking(app, 1))
        for n in range(2, EACH + 1):
            view.record(entry(folder, n), Tracking(app, n))

    def read() -> None:
        while True:
            finished = done.is_set()
            batch = view.rows_after(seen[-1] if seen else 0, 7)
            for row in batch:
                expected = (seen[-1] if seen else 0) + 1
                if row.position != expected:
                    gaps.append((expected, row.position))
                seen.append(row.position)
            if finished and not batch:
                return

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(f"App{i}",)) for i in range(WRITERS)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    reader.join(timeout=30)
    assert gaps == []
    assert seen == list(range(1, WRITERS * EACH + 1))
    rows = view.list_rows(AuditQuery(limit=1000, project_id=project))
    assert len(rows) == WRITERS * EACH  # later events found their project by resource id
    assert {row.resource_name for row in rows} == {"dev:/app"}


def test_a_notification_already_recorded_is_not_recorded_again(view: AuditView):
    folder, project = str(uuid.uuid4()), str(uuid.uuid4())
    assert view.record(entry(folder, 1, project), Tracking("SecretSources", 5)) == 1
    # Another server process following the same log gets there second.
    assert view.record(entry(folder, 1, project), Tracking("SecretSources", 5)) is None
    assert view.record(None, Tracking("SecretSources", 6)) is None  # tracked only
    assert view.record(entry(folder, 2), Tracking("SecretSources", 7)) == 2
    assert [row.position for row in view.rows()] == [1, 2]
    assert view.max_tracking_id("SecretSources") == 7
