"""Server subprocesses for the benchmarks: ours (`python -m service serve`) and the echo server.

Each runs in its own process so the load generator's GIL does not starve it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import grpc

from adapters.envelope import RootKey

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_SECONDS = 30.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A port nobody listens on now (bind to port 0 and let the kernel choose)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """A running server subprocess; its stderr goes to `log_path`."""

    label: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    log_file: IO[bytes] | None = field(repr=False, default=None)
    # A TLS server: channel credentials trusting its CA (and, for mutual TLS, presenting
    # a client certificate). None: plaintext.
    credentials: grpc.ChannelCredentials | None = field(repr=False, default=None)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def channel(self) -> grpc.Channel:
        """A new channel to the server: TLS with `credentials` when set, else plaintext."""
        if self.credentials is None:
            return grpc.insecure_channel(self.target)
        return grpc.secure_channel(self.target, self.credentials)

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        with self.channel() as channel:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.label} exited at start:\n{self.log_tail()}")
                try:
                    grpc.channel_ready_future(channel).result(timeout=0.5)
                    return
                except grpc.FutureTimeoutError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{self.label} not ready:\n{self.log_tail()}") from None

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log_file is not None:
            self.log_file.close()


def _spawn(
    label: str,
    args: list[str],
    env: dict[str, str],
    workdir: Path,
    credentials: grpc.ChannelCredentials | None = None,
) -> ServerProcess:
    port = free_port()
    log_path = workdir / f"{label.replace(' ', '_').replace('/', '_')}.log"
    log_file = log_path.open("wb")
    args = [a.replace("{PORT}", str(port)) for a in args]
    process = subprocess.Popen(
        [sys.executable, *args], cwd=REPO, env=env, stdout=log_file, stderr=log_file
    )
    server = ServerProcess(label, process, port, log_path, log_file, credentials)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def start_ours(
    label: str,
    database_url: str,
    log_level: str,
    workdir: Path,
    *,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    credentials: grpc.ChannelCredentials | None = None,
) -> ServerProcess:
    """`python -m service serve --dev` on a free port, with a fresh root key.

    Development mode with authentication off: the benchmarks call without credentials.
    `env` overrides variables (e.g. SECRET_SYNC_AUTH, or SECRET_SYNC_ROOT_KEY to open a
    store made beforehand), `args` are more `serve` flags (e.g. --tls-cert-file), and
    `credentials` are how clients, `wait_ready` included, reach a TLS server.
    """
    full_env = {
        **os.environ,
        "SECRET_SYNC_LOG_LEVEL": log_level,
        # These benchmarks measure the API; no vault is there for jobs to reach.
        "SECRET_SYNC_RUN_JOBS": "0",
        "SECRET_SYNC_AUTH": "off",
        "SECRET_SYNC_ROOT_KEY": RootKey.generate_text(),
        **(env or {}),
    }
    full_args = ["-m", "service", "serve", "--dev", "--listen", "127.0.0.1:{PORT}",
                 "--database-url", database_url, *args]
    return _spawn(label, full_args, full_env, workdir, credentials)


def start_echo(label: str, response: bytes, workdir: Path) -> ServerProcess:
    """The echo server, answering every GetSecretSync with `response` (serialized)."""
    fd, name = tempfile.mkstemp(suffix=".bin", dir=workdir)
    with os.fdopen(fd, "wb") as out:
        out.write(response)
    args = ["-m", "tests.bench.echo_server", "--port", "{PORT}", "--response-file", name]
    return _spawn(label, args, dict(os.environ), workdir)
