"""The CLI as operators run it: `.venv/bin/python -m service ...` in a subprocess, against
a real server in this process (and the Key Vault emulator where jobs must run).

No fixture here may be called "server": tests/conftest.py treats that name as the gRPC
service and would start another one with a project of its own.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from keyvault_emulator import KeyVaultEmulator
from tests.conftest import start_server

REPO = Path(__file__).resolve().parents[2]
PYTHON = REPO / ".venv" / "bin" / "python"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def both(self) -> str:
        return self.out + self.err


Cli = Callable[..., Result]


def run_cli(target: str, *args: str, stdin: str = "", env: dict[str, str] | None = None) -> Result:
    """`python -m service <args>` with SECRET_SYNC_TARGET pointing at the server."""
    process = subprocess.run(
        [str(PYTHON), "-m", "service", *args],
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SECRET_SYNC_TARGET": target, **(env or {})},
    )
    return Result(process.returncode, process.stdout, process.stderr)


@pytest.fixture
def emulator() -> Iterator[KeyVaultEmulator]:
    """A fresh emulator (as tests/emulator/conftest.py makes them)."""
    with KeyVaultEmulator() as running:
        yield running


@pytest.fixture
def target(database_url: str) -> Iterator[str]:
    """host:port of a server whose jobs stay pending (no worker)."""
    server = start_server(database_url)
    try:
        yield f"127.0.0.1:{server.port}"
    finally:
        server.stop(grace=1.0)


@pytest.fixture
def working_target(
    database_url: str,
    emulator: KeyVaultEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """host:port of a server whose worker runs jobs and trusts the emulator's CA."""
    monkeypatch.setenv("SECRET_SYNC_CA_BUNDLE", str(emulator.ca_path))
    server = start_server(database_url, run_jobs=True)
    try:
        yield f"127.0.0.1:{server.port}"
    finally:
        server.stop(grace=1.0)


@pytest.fixture
def cli(request: pytest.FixtureRequest) -> Cli:
    """run_cli bound to the test's server: the test names `target` or `working_target`
    among its arguments (so pytest parametrizes it over both stores)."""
    name = "working_target" if "working_target" in request.fixturenames else "target"
    assert name in request.fixturenames, "ask for target or working_target too"
    bound = request.getfixturevalue(name)
    return lambda *args, **kwargs: run_cli(bound, *args, **kwargs)
