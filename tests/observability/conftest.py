"""Fixtures: a server with its worker and its /metrics endpoint, against the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest

from keyvault_emulator import KeyVaultEmulator
from service.server import SecretSyncServer
from tests.conftest import start_server


@dataclass
class Observed:
    """A running server (worker on, /metrics on a free port) and a channel to it."""

    server: SecretSyncServer
    channel: grpc.Channel

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.server.metrics.port}/metrics"


@pytest.fixture
def emulator() -> Iterator[KeyVaultEmulator]:
    with KeyVaultEmulator() as running:
        yield running


@pytest.fixture
def observed(database_url, emulator: KeyVaultEmulator, monkeypatch) -> Iterator[Observed]:
    monkeypatch.setenv("SECRET_SYNC_CA_BUNDLE", str(emulator.ca_path))
    server = start_server(database_url, run_jobs=True, metrics_listen="127.0.0.1:0")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield Observed(server, channel)
    finally:
        server.stop(grace=1.0)
