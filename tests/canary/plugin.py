"""pytest plugin of the canary run: `-p tests.canary.plugin`, active only when
SECRET_SYNC_CANARY_DIR names a folder (so loading it elsewhere changes nothing).

While the tests run unchanged, it (with tests/canary/recorder.py)
- marks every secret value and client secret the tests send over gRPC, and every
  value they put in the emulator's vault (tests/canary/marks.py), and takes the marks
  off what they read back, so their assertions hold;
- records the service tokens the run makes and the bearer tokens it sends;
- writes every error (message, details, trailers) and every answer, with its
  legitimate secret fields blanked, and every log record of every logger at DEBUG;
- writes each PostgreSQL schema's rows to postgres/ before it is dropped;
- has every Python subprocess the tests start do the same (tests/canary/site/);
- writes what to look for to sent-*.json at the end.

tests/canary/test_whole_suite.py then searches all of it, and the tests' basetemp
(the SQLite stores), for any mark or credential.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.canary.recorder import DIR_ENV, POSTGRES, Patches, Run, start

SITE = Path(__file__).with_name("site")
REPO = Path(__file__).resolve().parents[2]


def keep_postgres_rows(run: Run, patch: Patches) -> None:
    """Each test schema's rows are written out before tests/conftest.py drops it."""
    import tests.conftest as shared
    from tests.canary.search import raw_store

    fresh = shared.postgres_schema_url

    def kept() -> Iterator[str]:
        schemas = fresh()
        url = next(schemas)
        try:
            yield url
        finally:
            name = url.rsplit("schema=", 1)[1]
            (run.folder / POSTGRES / f"{name}.bin").write_bytes(raw_store(url))
            schemas.close()

    patch.setattr(shared, "postgres_schema_url", kept)


def reach_subprocesses() -> None:
    """Python subprocesses load tests/canary/site/sitecustomize.py, which starts the
    recorder there too (the repository on the path: `tests` must import before -m)."""
    paths = [str(SITE), str(REPO), os.environ.get("PYTHONPATH", "")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)


_active: list[tuple[Run, Patches, Callable[[], None]]] = []


def pytest_configure(config: pytest.Config) -> None:
    folder = os.environ.get(DIR_ENV)
    if not folder:
        return
    run, patch, undo_logging = start(Path(folder), "pytest", servers=True)
    keep_postgres_rows(run, patch)
    reach_subprocesses()
    _active.append((run, patch, undo_logging))


def pytest_runtest_setup(item: pytest.Item) -> None:
    for run, _, _ in _active:
        run.marks.new_test()


def pytest_unconfigure(config: pytest.Config) -> None:
    while _active:
        run, patch, undo_logging = _active.pop()
        undo_logging()
        patch.undo()
        run.finish()
