"""`python -m keyvault_emulator` on a free port, used by the SDK from outside."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient

ROOT = Path(__file__).resolve().parents[2]


def pump_lines(process: subprocess.Popen[str]) -> tuple[queue.Queue[str], threading.Thread]:
    """Stdout lines in a queue ("" at the end): reading in a thread cannot block the test."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put("")

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return lines, thread


def read_settings(lines: queue.Queue[str], timeout: float = 20.0) -> dict[str, str]:
    """The key=value lines printed before "ready"."""
    settings: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while True:
        line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        if not line:
            raise AssertionError("the emulator exited before printing 'ready'")
        if line.strip() == "ready":
            return settings
        key, _, value = line.strip().partition("=")
        settings[key] = value


def test_standalone_emulator_serves_the_sdk():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "keyvault_emulator",
            "--port",
            "0",
            "--client-secret",
            "cli-secret",
            "--extra-vault",
            "other",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines, pump = pump_lines(process)
    try:
        settings = read_settings(lines)
        assert settings["client_secret"] == "cli-secret"
        assert settings["authority"] == settings["vault_url"]
        assert settings["vault_url"].startswith("https://127.0.0.1:")
        assert settings["vault_url.other"] != settings["vault_url"]
        ca_path = settings["ca_path"]
        assert Path(ca_path).read_text().startswith("-----BEGIN CERTIFICATE-----")
        credential = ClientSecretCredential(
            settings["tenant_id"],
            settings["client_id"],
            settings["client_secret"],
            authority=settings["authority"],
            disable_instance_discovery=True,
            connection_verify=ca_path,
        )
        with SecretClient(
            vault_url=settings["vault_url"],
            credential=credential,
            verify_challenge_resource=False,
            connection_verify=ca_path,
        ) as client:
            client.set_secret("from-outside", "works")
            assert client.get_secret("FROM-OUTSIDE").value == "works"
    finally:
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=10)
        pump.join(timeout=5)
        assert process.stdout is not None
        process.stdout.close()
    assert returncode == 0
    assert not Path(ca_path).exists()
