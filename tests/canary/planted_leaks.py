"""Not part of the suite (no test_ prefix): test_whole_suite.py runs it under the canary
plugin to prove the search finds what a leaky service would leave behind.

The service's SetSecret is made leaky on purpose: it logs the value, writes it (hex)
to a file beside the store, logs it again as base64, stores it in a table of the
store (SQLite or PostgreSQL), and echoes it in an error.
"""

from __future__ import annotations

import base64
import logging
import sqlite3
from pathlib import Path

import grpc
import psycopg
import pytest
from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc

from service.api.source_servicer import SecretSourceServicer
from tests.conftest import POSTGRES_ADMIN_URL, new_project, start_server

log = logging.getLogger("secretsync.leaky")


def store_in_a_table(database_url: str, value: str) -> None:
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS planted (value TEXT)")
            conn.execute("INSERT INTO planted VALUES (?)", (value,))
        return
    schema = database_url.rsplit("schema=", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE IF NOT EXISTS "{schema}".planted (value TEXT)')
        conn.execute(f'INSERT INTO "{schema}".planted VALUES (%s)', (value,))


def leaky_set_secret(folder: Path, database_url: str):  # type: ignore[no-untyped-def]
    original = SecretSourceServicer.SetSecret

    def leaky(self, request, context):  # type: ignore[no-untyped-def]
        value = request.secret.value
        log.debug("setting %s", value)
        log.debug("as base64 %s", base64.b64encode(value.encode()).decode())
        (folder / "leak.bin").write_text(value.encode().hex())
        store_in_a_table(database_url, value)
        if request.secret.key == "ECHO":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"bad value {value}")
        return original(self, request, context)

    return leaky


def test_a_leaky_service(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    leaky = leaky_set_secret(tmp_path, database_url)
    monkeypatch.setattr(SecretSourceServicer, "SetSecret", leaky)
    server = start_server(database_url)
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
