"""The fault suite's helpers: `serve` processes, their health, and the store to break.

Every test here ends with every acknowledged write present, every replica SERVING and
every vault equal to its source, with nobody's action but the fault's own undoing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from adapters.envelope import RootKey
from tests.bench.servers import REPO, free_port

ROOT_KEY = RootKey.generate_text()
SERVING = health_pb2.HealthCheckResponse.SERVING


@dataclass
class Served:
    """One `python -m service serve` process."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def channel(self) -> grpc.Channel:
        return grpc.insecure_channel(f"127.0.0.1:{self.port}")

    def health(self) -> int | None:
        with self.channel() as channel:
            try:
                return health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=2
                ).status
            except grpc.RpcError:
                return None

    def serving(self) -> bool:
        return self.health() == SERVING

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def serve_env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "SECRET_SYNC_DATABASE_URL": database_url,
        "SECRET_SYNC_ROOT_KEY": ROOT_KEY,
        "SECRET_SYNC_METRICS_LISTEN": "off",
        **extra,
    }


def serve(env: dict[str, str], log: Path, port: int = 0, wait: bool = True) -> Served:
    """A `serve` process in development mode; with `wait`, once it answers."""
    port = port or free_port()
    command = [sys.executable, "-m", "service", "serve", "--dev", "--listen",
               f"127.0.0.1:{port}"]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log.open("ab"),
                               stderr=subprocess.STDOUT)
    served = Served(process, port, log)
    if wait:
        try:
            eventually(lambda: served.process.poll() is not None or served.serving(), 60)
        except BaseException:
            served.stop()
            raise
        assert served.process.poll() is None, served.output()
    return served


@pytest.fixture
def processes() -> Iterator[list[Served]]:
    """Processes a test starts; stopped (or killed) at its end, whatever happened."""
    started: list[Served] = []
    yield started
    for served in started:
        served.stop()


def eventually(check: Callable[[], Any], timeout: float = 30.0, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(every)
    return result


def calls(call: Callable[[], Any], timeout: float = 30.0) -> Any:
    """The answer of `call`, retried while the service says UNAVAILABLE (as a client with
    a retry policy would)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except grpc.RpcError as error:
            retry = error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
            if not retry or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
