"""`python -m service serve` as operators run it: JSON log lines and /metrics on its port,
after a real sync into the emulator; no secret value in either."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from keyvault_emulator import KeyVaultEmulator
from tests.canary.search import leaks
from tests.observability.scrape import scrape
from tests.observability.syncs import sync_to_emulator

REPO = Path(__file__).resolve().parents[2]
PYTHON = REPO / ".venv" / "bin" / "python"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Process:
    process: subprocess.Popen[bytes]
    target: str
    metrics_url: str
    log_path: Path

    def log_lines(self) -> list[str]:
        return [line for line in self.log_path.read_text().splitlines() if line.strip()]


@pytest.fixture
def json_service(tmp_path: Path, emulator: KeyVaultEmulator) -> Iterator[Process]:
    port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "gen")]),
        "SECRET_SYNC_ROOT_KEY_FILE": str(tmp_path / "root.key"),
        "SECRET_SYNC_CA_BUNDLE": str(emulator.ca_path),
        "SECRET_SYNC_LOG_FORMAT": "json",
        "SECRET_SYNC_METRICS_LISTEN": f"127.0.0.1:{metrics_port}",
        "SECRET_SYNC_LOG_LEVEL": "INFO",
    }
    for name in ("SECRET_SYNC_ROOT_KEY", "SECRET_SYNC_DATABASE_URL", "SECRET_SYNC_RUN_JOBS"):
        env.pop(name, None)
    log_path = tmp_path / "service.log"
    command = [
        str(PYTHON), "-m", "service", "serve", "--dev",
        "--listen", f"127.0.0.1:{port}",
        "--database-url", f"sqlite:///{tmp_path}/s.sqlite",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log
        )
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    service = Process(process, f"127.0.0.1:{port}", metrics_url, log_path)
    try:
        wait_until_serving(service)
        yield service
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def wait_until_serving(service: Process, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(service.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            assert service.process.poll() is None, "\n".join(service.log_lines())
            try:
                answer = health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass  # not listening yet
            assert time.monotonic() < deadline, "not SERVING:\n" + "\n".join(service.log_lines())
            time.sleep(0.1)


def test_json_lines_carry_ids_and_no_value_leaks(json_service: Process, emulator):
    canary = f"CANARY-{uuid.uuid4().hex}"
    key = f"CANARYKEY_{uuid.uuid4().hex[:8].upper()}"
    request_id = f"obs-{uuid.uuid4()}"
    with grpc.insecure_channel(json_service.target) as channel:
        synced = sync_to_emulator(
            channel, emulator, {key: canary}, metadata=(("x-request-id", request_id),)
        )
    exposition = scrape(json_service.metrics_url)
    assert exposition.value("secretsync_jobs_total", kind="sync", result="succeeded") >= 1
    assert not leaks(canary, exposition.text)
    assert key not in exposition.text and key.replace("_", "-") not in exposition.text

    json_service.process.send_signal(signal.SIGTERM)
    assert json_service.process.wait(30) == 0
    lines = json_service.log_lines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys(), record
        assert record["time"].endswith("Z")
    created = [r for r in records if r.get("grpc_method", "").endswith("/CreateSecretSync")]
    assert [r["request_id"] for r in created] == [request_id]
    assert created[0]["grpc_code"] == "OK" and created[0]["duration_ms"] >= 0
    claimed = [r for r in records if r["logger"] == "secretsync.jobs" and "claimed" in r["message"]]
    assert synced.last_sync_job_id in {r.get("job_id") for r in claimed}
    assert any(r["message"].startswith("metrics on http://") for r in records)
    assert not leaks(canary, "\n".join(lines))
