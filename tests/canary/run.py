"""Running tests under the canary plugin in a pytest subprocess, and searching what it left.

Layout of a run's folder:
    basetemp/   the tests' tmp_path folders: SQLite stores (-wal, -shm), CLI files
    out/        the plugin's, per process: logs/, answers-*.bin, postgres/ (searched)
                and sent-*.json (what to search for: never searched itself)
Files the tests write themselves as input are left out by name (FILES_THE_TESTS_WROTE).
The Key Vault emulator keeps its secrets in memory and its TLS files in a temporary
folder of its own, outside this one: it is "Azure" and holds the values by design, so
it is never searched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.canary.recorder import DIR_ENV, POSTGRES, SENT
from tests.canary.search import MIN_SECRET, Hit, Searcher, files_under

REPO = Path(__file__).resolve().parents[2]
OUTPUT = "pytest-output.txt"
FILES_THE_TESTS_WROTE = (
    # tests/security/test_setup.py: the admin token an operator keeps for the CLI's
    # --token-file; the test writes it there, the service never does.
    "token",
)


@dataclass(frozen=True)
class Run:
    folder: Path
    code: int
    output: str  # pytest's stdout and stderr (out/pytest-output.txt, searched too)
    sent: dict

    @property
    def marks(self) -> list[str]:
        return list(self.sent["marks"])

    def marks_of(self, kind: str) -> list[str]:
        return [m for m, k in self.sent["marks"].items() if k == kind]

    def unsearched_stores(self) -> list[str]:
        """Stores of the run the search does not reach: a SQLite file outside basetemp,
        a PostgreSQL schema whose rows were not kept."""
        basetemp = (self.folder / "basetemp").resolve()
        missing = []
        for url in self.sent["stores"]:
            if url.startswith("sqlite:///"):
                path = Path(url.removeprefix("sqlite:///")).resolve()
                reached = path.is_relative_to(basetemp) and path.exists()
            else:
                schema = url.rsplit("schema=", 1)[1]
                reached = (self.folder / "out" / POSTGRES / f"{schema}.bin").exists()
            if not reached:
                missing.append(url)
        return missing

    @property
    def credentials(self) -> list[str]:
        """Tokens and keys long enough to search for (a test's "bad-token" is not)."""
        return [c for c in self.sent["credentials"] if len(c) >= MIN_SECRET]


def run_canary(folder: Path, args: list[str], timeout: float = 600) -> Run:
    """`pytest -p tests.canary.plugin <args>` with its outputs in `folder`."""
    env = {**os.environ, DIR_ENV: str(folder / "out")}
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.canary.plugin",
            f"--basetemp={folder / 'basetemp'}",
            *args,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    sent = merged_sent(folder / "out")
    output = process.stdout + process.stderr
    (folder / "out" / OUTPUT).write_text(output)
    return Run(folder, process.returncode, output, sent)


def merged_sent(out: Path) -> dict:
    """What every process of the run sent (the test process and its subprocesses)."""
    merged: dict = {
        "marks": {},
        "credentials": [],
        "unmarked": [],
        "stores": [],
        "calls": 0,
        "coverage": Counter(),
        "unmarked_samples": [],
    }
    processes = sorted(out.glob(f"{SENT}-*.json"))
    assert any(p.name == f"{SENT}-pytest.json" for p in processes), "the plugin did not run"
    for path in processes:
        sent = json.loads(path.read_text())
        merged["marks"].update(sent["marks"])
        for key in ("credentials", "unmarked", "stores", "unmarked_samples"):
            merged[key] += sent[key]
        merged["calls"] += sent["calls"]
        merged["coverage"].update(sent.get("coverage", {}))
    merged["processes"] = len(processes)
    return merged


def search_run(run: Run) -> list[Hit]:
    """Every mark and credential of the run, in every form, everywhere the run wrote."""
    searcher = Searcher(run.marks + run.credentials)
    out = run.folder / "out"
    places = [
        *files_under(run.folder / "basetemp", excluded=FILES_THE_TESTS_WROTE),
        *(p for p in files_under(out) if not p.name.startswith(SENT)),
    ]
    return searcher.search_files(places, run.folder)
