"""Typed at a terminal, a secret value is prompted for without echo."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time

import grpc
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc

from tests.cli.conftest import PYTHON, REPO
from tests.conftest import new_project

PROMPT = b"(input hidden): "


def read_until(fd: int, wanted: bytes, timeout: float = 20.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        assert time.monotonic() < deadline, seen
        if select.select([fd], [], [], 0.1)[0]:
            seen += os.read(fd, 1024)
    return seen


def drain(fd: int) -> bytes:
    seen = b""
    while select.select([fd], [], [], 0.2)[0]:
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # EIO: the other side of the terminal is closed
            break
        if not chunk:
            break
        seen += chunk
    return seen


def test_the_prompt_does_not_echo_the_value(target: str) -> None:
    with grpc.insecure_channel(target) as channel:
        project_id = new_project(channel)
    terminal, child_end = pty.openpty()
    # A new session has no controlling terminal, so getpass uses stdin, our terminal,
    # never the terminal pytest itself may run in.
    process = subprocess.Popen(
        [
            str(PYTHON),
            "-m",
            "service",
            "secret",
            "set",
            "--project",
            project_id,
            "--env",
            "dev",
            "--path",
            "/my-secrets",
            "TYPED",
            "--target",
            target,
        ],
        cwd=REPO,
        stdin=child_end,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    os.close(child_end)
    try:
        assert process.stderr is not None
        prompt = read_until(process.stderr.fileno(), PROMPT)
        os.write(terminal, b"typed-CANARY\n")
        out, err = process.communicate(timeout=30)
        echoed = drain(terminal)
    finally:
        os.close(terminal)

    assert process.returncode == 0, (out, err)
    assert b"Value of TYPED" in prompt
    assert b"typed-CANARY" not in echoed + prompt + out + err
    with grpc.insecure_channel(target) as channel:
        stored = (
            sgrpc.SecretSourceServiceStub(channel)
            .GetSecret(
                sapi.GetSecretRequest(
                    project_id=project_id, environment="dev", path="/my-secrets", key="TYPED"
                )
            )
            .secret
        )
    assert stored.value == "typed-CANARY"
