"""The Key Vault emulator as a subprocess for the sync benchmark, and its admin API.

A process of its own, so that its TLS and request threads do not share a GIL with
the benchmark or with either client; the admin endpoints (not counted, never
delayed) set latency and throttling, empty the vault and read request counts.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from keyvault_emulator.ratelimit import RateLimit
from tests.bench.servers import REPO

READY_TIMEOUT_SECONDS = 30.0
CLIENT_SECRET = "dev-secret"
IDENTITY_KINDS = ("token", "discovery")  # Entra ID stand-in, not vault transactions


@dataclass
class EmulatorProcess:
    """A running emulator; `facts` holds what it printed (vault_url, tenant_id, ...)."""

    process: subprocess.Popen[bytes]
    facts: dict[str, str]
    log_file: IO[bytes]

    @property
    def vault_url(self) -> str:
        return self.facts["vault_url"]

    @property
    def ca_path(self) -> str:
        return self.facts["ca_path"]

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.vault_url}/_emulator/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data else {},
        )
        context = ssl.create_default_context(cafile=self.ca_path)
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def fresh_vault(self, latency_ms: float, limit: RateLimit) -> None:
        """Empty vault, zero counts, and new throttling windows (nothing remembered)."""
        self.admin("DELETE", "vaults")
        window = {"sets": limit.sets, "total": limit.total, "window_seconds": limit.window_seconds}
        self.admin("POST", "faults", {"latency_ms": latency_ms, "rate_limit": window})
        self.admin("DELETE", "counts")

    def counts(self) -> dict[str, int]:
        return dict(self.admin("GET", "counts"))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()


def start_emulator(workdir: Path, latency_ms: float, limit: RateLimit) -> EmulatorProcess:
    """`python -m keyvault_emulator` on a free port, throttling from the start."""
    out_path, log_path = workdir / "emulator.out", workdir / "emulator.log"
    args = [
        sys.executable,
        "-m",
        "keyvault_emulator",
        "--port",
        "0",
        "--client-secret",
        CLIENT_SECRET,
        "--cert-dir",
        str(workdir / "emulator-ca"),
        "--latency-ms",
        str(latency_ms),
        "--rate-limit",
        "--rate-limit-sets",
        str(limit.sets),
        "--rate-limit-total",
        str(limit.total),
        "--rate-limit-window",
        str(limit.window_seconds),
    ]
    log_file = log_path.open("wb")
    with out_path.open("wb") as out:
        process = subprocess.Popen(args, cwd=REPO, stdout=out, stderr=log_file)
    emulator = EmulatorProcess(process, {}, log_file)
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while "ready" not in (lines := out_path.read_text().splitlines()):
        if process.poll() is not None or time.monotonic() > deadline:
            emulator.stop()
            raise RuntimeError(f"emulator did not start:\n{log_path.read_text()[-2000:]}")
        time.sleep(0.05)
    emulator.facts = dict(line.split("=", 1) for line in lines if "=" in line)
    return emulator


def vault_requests(counts: dict[str, int]) -> int:
    """Requests that reached the vault API (the identity endpoints are not Key Vault's)."""
    return counts.get("total", 0) - sum(counts.get(kind, 0) for kind in IDENTITY_KINDS)
