"""The README's quick start, shell 3, is docs/quickstart.sh: run it as written against a
fresh service and emulator (the emulator as shell 1 starts it, but on a free port)."""

from __future__ import annotations

import os
import subprocess

from keyvault_emulator import KeyVaultEmulator
from tests.cli.conftest import REPO
from tests.conftest import start_server


def test_the_quick_start_ends_with_the_secret_in_the_vault(database_url, monkeypatch) -> None:
    with KeyVaultEmulator(client_secret="dev-secret") as emulator:
        monkeypatch.setenv("SECRET_SYNC_CA_BUNDLE", str(emulator.ca_path))  # shell 2
        server = start_server(database_url, run_jobs=True)
        try:
            result = subprocess.run(
                ["bash", str(REPO / "docs" / "quickstart.sh")],
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=120,
                env={
                    **os.environ,
                    "SECRET_SYNC_TARGET": f"127.0.0.1:{server.port}",
                    "VAULT": emulator.url,
                    "CA": str(emulator.ca_path),
                },
            )
        finally:
            server.stop(grace=1.0)
        assert emulator.vault().get_secret("DB-PASSWORD").version.value == "s3cret"

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "DB-PASSWORD = s3cret"
    assert "UNCHANGED  DB-PASSWORD  DB_PASSWORD" in result.stdout
