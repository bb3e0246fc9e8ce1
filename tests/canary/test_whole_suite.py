"""The canary: the end-to-end suite, run with marked secret values, client secrets and
tokens, leaves none of them in the stores, the logs, the errors or the audit.

How the run is made and searched: tests/canary/plugin.py and run.py.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.canary.run import Run, run_canary, search_run

# The tests that go client → gRPC → service (→ worker → Azure SDK → emulator), and
# two that run the real `python -m service serve` (its log file, under basetemp, is
# searched: at INFO, the level those tests set). Left out: tests of the emulator alone
# and of the sync engine and Azure adapter called in process (no gRPC call, so nothing
# to mark); the other process, replica, concurrency and fuzz tests (what they send is
# covered here; they would double the run's time).
SUITE = [
    "tests/emulator/test_end_to_end.py",
    "tests/emulator/test_behaviours_end_to_end.py",
    "tests/emulator/test_import_remove.py",
    "tests/emulator/test_job_runner.py",
    "tests/emulator/test_worker.py",
    "tests/integration/test_source_api.py",
    "tests/integration/test_source_syncs.py",
    "tests/integration/test_connections.py",
    "tests/integration/test_sync_connections.py",
    "tests/integration/test_canary.py",
    "tests/integration/test_process.py",
    "tests/observability/test_process_logs.py",
    "tests/audit",
    "tests/security",
    "tests/cli",
]
# Every test above runs on SQLite; these on PostgreSQL too (each schema's rows are kept
# and searched): the worker, import and audit paths, within the time the run may take
# (about 100 s on SQLite, 65 s more for these on PostgreSQL).
ON_POSTGRES = [  # for -k: module file names (387 of the 668 tests are selected)
    "test_end_to_end.py",
    "test_behaviours_end_to_end.py",
    "test_import_remove.py",
    "test_connections.py",
    "test_audit_api.py",
]
SELECTED = "not postgres or " + " or ".join(ON_POSTGRES)
# The least the run must have sent, by kind, for its silence to mean something (about
# two thirds of what it sends: a run that stopped marking fails here).
AT_LEAST = {
    "secret value": 500,
    "client secret": 120,
    "emulator client secret": 50,
    "vault value": 20,
}
AT_LEAST_CREDENTIALS = 120  # service tokens, bearer tokens, private key lines
# Of the secret values and client secrets the service received (by any way: gRPC, the
# CLI, import jobs), the share that carried a mark. Unmarked: values at the size limits
# (marks would push them over) and certificate PEMs (searched line by line instead).
MARKED_AT_LEAST = 0.95


def report(run: Run) -> str:
    marks = Counter(run.sent["marks"].values())
    unmarked = run.sent["unmarked_samples"]
    return f"marks {marks}, credentials {len(run.credentials)}, unmarked {unmarked}"


def saw_what_it_searches(run: Run) -> bool:
    """The places searched hold what they should: calls, jobs, stores of both kinds."""
    out = run.folder / "out"
    logged = (out / "logs" / "pytest.log").read_text()
    answers = (out / "answers-pytest.bin").read_bytes()
    stores = run.sent["stores"]
    server_logs = list((run.folder / "basetemp").rglob("service.log"))  # test_process*
    return (
        len(server_logs) >= 2
        and all(b"serving on" in log.read_bytes() for log in server_logs)
        and "SecretSourceService/SetSecret code=OK" in logged
        and "secretsync.worker" in logged
        and b"AuditService/ListAuditEvents" in answers
        and b"FAILED_PRECONDITION" in answers  # errors are recorded too
        and sum(s.startswith("sqlite") for s in stores) >= 100
        and sum(s.startswith("postgres") for s in stores) >= 30
    )


@pytest.mark.timeout(600)
def test_the_end_to_end_suite_leaks_no_marked_secret_anywhere(tmp_path: Path) -> None:
    run = run_canary(tmp_path, [*SUITE, "-q", "-x", "-k", SELECTED])
    assert run.code == 0, run.output[-5000:]
    sent = Counter(run.sent["marks"].values())
    for kind, least in AT_LEAST.items():
        assert sent[kind] >= least, report(run)
    assert len(run.credentials) >= AT_LEAST_CREDENTIALS, report(run)
    coverage = run.sent["coverage"]
    for kind in ("secret value", "credential"):
        marked, unmarked = coverage[f"{kind} marked"], coverage[f"{kind} unmarked"]
        assert marked / (marked + unmarked) >= MARKED_AT_LEAST, (coverage, report(run))
    assert saw_what_it_searches(run)
    assert not run.unsearched_stores()
    hits = search_run(run)
    assert not hits, "\n".join(str(hit) for hit in hits[:30])


@pytest.mark.timeout(120)
def test_the_search_finds_what_a_leaky_service_leaves(tmp_path: Path) -> None:
    planted = str(Path(__file__).with_name("planted_leaks.py"))
    run = run_canary(tmp_path, [planted, "-q"])
    assert run.code == 0, run.output[-5000:]
    hits = search_run(run)
    for value in run.marks_of("secret value"):  # one on SQLite, one on PostgreSQL
        found = {(place(hit.where), hit.form) for hit in hits if hit.secret == value}
        assert ("logs", "plain") in found  # a log line
        assert ("logs", "base64") in found
        assert ("answers-pytest.bin", "plain") in found  # an error message
        assert ("basetemp", "hex") in found  # a file the service wrote
        assert ("basetemp", "plain") in found or ("postgres", "plain") in found  # a row
    assert len(run.marks_of("secret value")) == 2


def place(where: str) -> str:
    """"logs", "postgres", an answers file, or "basetemp" (the tests' own folders)."""
    top, second = where.split("/")[:2]
    return "basetemp" if top == "basetemp" else second
