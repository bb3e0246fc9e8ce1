"""requirements.lock and pyproject.toml move together: `make lint` runs .ci/lock_check.py,
which must pass on the repository and fail, naming the package, on every way of changing
a pin without running `make lock`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECK = ROOT / ".ci" / "lock_check.py"


def check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK), str(root)], capture_output=True, text=True, check=False
    )


def project(tmp_path: Path, old: str = "", new: str = "") -> Path:
    shutil.copy(ROOT / "requirements.lock", tmp_path)
    text = (ROOT / "pyproject.toml").read_text()
    assert old in text
    (tmp_path / "pyproject.toml").write_text(text.replace(old, new, 1))
    return tmp_path


def test_the_lock_matches_pyproject():
    result = check(ROOT)
    assert result.returncode == 0, result.stderr


def test_a_pin_changed_without_the_lock_fails_with_a_clear_message(tmp_path):
    result = check(project(tmp_path, '"grpcio==1.85.3"', '"grpcio==1.85.2"'))
    assert result.returncode == 1
    assert "grpcio is pinned 1.85.2 in pyproject.toml but locked at 1.85.3" in result.stderr
    assert "make lock" in result.stderr


def test_a_new_pin_missing_from_the_lock_fails(tmp_path):
    result = check(project(tmp_path, '"pytest==9.2.0",', '"pytest==9.2.0", "left-pad==1.0",'))
    assert result.returncode == 1
    assert "left-pad==1.0 is pinned in pyproject.toml but not in the lock" in result.stderr


def test_a_removed_pin_still_locked_fails(tmp_path):
    result = check(project(tmp_path, '"prometheus-client==0.26.0",\n', ""))
    assert result.returncode == 1
    assert "prometheus-client is locked as a pyproject.toml requirement" in result.stderr


def test_a_loose_requirement_fails(tmp_path):
    result = check(project(tmp_path, '"ruff==0.17.6"', '"ruff>=0.17"'))
    assert result.returncode == 1
    assert "'ruff>=0.17' in pyproject.toml is not an exact pin" in result.stderr
