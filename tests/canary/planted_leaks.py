"""Not part of the suite (no test_ prefix): test_whole_suite.py runs it under the canary
plugin to prove the search finds what a leaky service would leave behind.

The service's SetSecret is made leaky on purpose: it logs the value, writes it (hex)
to a file beside the store, logs it again as base64, and echoes it in an error.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import grpc
import pytest
from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc

from service.source_servicer import SecretSourceServicer
from tests.conftest import new_project, start_server

log = logging.getLogger("secretsync.leaky")


def leaky_set_secret(folder: Path):  # type: ignore[no-untyped-def]
    original = SecretSourceServicer.SetSecret

    def leaky(self, request, context):  # type: ignore[no-untyped-def]
        value = request.secret.value
        log.debug("setting %s", value)
        log.debug("as base64 %s", base64.b64encode(value.encode()).decode())
        (folder / "leak.bin").write_text(value.encode().hex())
        if request.secret.key == "ECHO":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"bad value {value}")
        return original(self, request, context)

    return leaky


def test_a_leaky_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SecretSourceServicer, "SetSecret", leaky_set_secret(tmp_path))
    server = start_server(f"sqlite:///{tmp_path}/store.sqlite")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = sgrpc.SecretSourceServiceStub(channel)
            place = {"project_id": new_project(channel), "environment": "dev"}
            for key in ("PLAIN", "ECHO"):
                request = sapi.SetSecretRequest(
                    **place, path="/my-secrets", secret=spb.Secret(key=key, value="v1")
                )
                try:
                    stub.SetSecret(request)
                except grpc.RpcError as error:
                    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        server.stop(grace=1.0)
