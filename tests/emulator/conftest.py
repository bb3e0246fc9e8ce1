"""Fixtures: a fresh emulator per test, real SDK clients pointed at it, and a
server running jobs against it (`running`).

No fixture here may be called "server": tests/conftest.py treats that name as the gRPC
service and would start one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
import requests
from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient
from hanzo.kms.secretsync.v1 import azure_connection_pb2 as cpb
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2 as capi
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2_grpc as cgrpc

from keyvault_emulator import KeyVaultEmulator
from service.server import SecretSyncServer
from tests.conftest import start_server

ClientFactory = Callable[..., SecretClient]


@pytest.fixture
def emulator() -> Iterator[KeyVaultEmulator]:
    with KeyVaultEmulator() as running:
        yield running


@pytest.fixture
def instant_windows(emulator: KeyVaultEmulator) -> KeyVaultEmulator:
    """Opt out of Key Vault's delete/recover/purge windows, for tests that arrange state
    through the store and look at shapes or counts, not at timing."""
    emulator.timing.delete_seconds = 0.0
    emulator.timing.recover_seconds = 0.0
    emulator.timing.purge_seconds = 0.0
    return emulator


def credential_for(emulator: KeyVaultEmulator, **overrides: Any) -> ClientSecretCredential:
    return ClientSecretCredential(**{**emulator.credential_kwargs(), **overrides})


@pytest.fixture
def make_client(emulator: KeyVaultEmulator) -> Iterator[ClientFactory]:
    """SecretClient(vault_url, credential, **kwargs) built the documented way."""
    made: list[SecretClient] = []

    def make(credential: ClientSecretCredential | None = None, **kwargs: Any) -> SecretClient:
        client = SecretClient(
            vault_url=emulator.url,
            credential=credential or credential_for(emulator),
            verify_challenge_resource=False,
            connection_verify=str(emulator.ca_path),
            **kwargs,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: ClientFactory) -> SecretClient:
    """Default azure-core retries (10, honouring Retry-After)."""
    return make_client()


@pytest.fixture
def raw_client(make_client: ClientFactory) -> SecretClient:
    """No azure-core retries: errors surface as the vault sent them."""
    return make_client(retry_total=0)


def inner_code(error: Any) -> str | None:
    """The innererror code of an azure-core HttpResponseError."""
    inner = getattr(error.error, "innererror", None) or {}
    return inner.get("code")


VAULT_SCOPE = "https://vault.azure.net/.default"


def token_response(emulator: KeyVaultEmulator, scope: str = VAULT_SCOPE) -> requests.Response:
    """A client-credentials token request, as MSAL sends it."""
    return requests.post(
        f"{emulator.url}/{emulator.tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": emulator.client_id,
            "client_secret": emulator.client_secret,
            "scope": scope,
        },
        verify=str(emulator.ca_path),
        timeout=10,
    )


def access_token(emulator: KeyVaultEmulator, scope: str = VAULT_SCOPE) -> str:
    response = token_response(emulator, scope)
    response.raise_for_status()
    return response.json()["access_token"]


def vault_request(
    emulator: KeyVaultEmulator,
    method: str,
    path: str,
    *,
    token: str | None = "auto",
    api_version: str | None = "7.5",
    **kwargs: Any,
) -> requests.Response:
    """A plain HTTPS request to the vault, authorised unless token=None."""
    headers = dict(kwargs.pop("headers", {}))
    if token == "auto":
        token = access_token(emulator)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    params = dict(kwargs.pop("params", {}))
    if api_version:
        params["api-version"] = api_version
    url = path if path.startswith("https://") else emulator.url + path
    return requests.request(
        method,
        url,
        headers=headers,
        params=params,
        verify=str(emulator.ca_path),
        timeout=10,
        **kwargs,
    )


@pytest.fixture
def running(database_url, emulator, monkeypatch) -> Iterator[grpc.Channel]:
    """A channel to a server whose worker runs jobs and trusts the emulator's CA."""
    monkeypatch.setenv("SECRET_SYNC_CA_BUNDLE", str(emulator.ca_path))
    server: SecretSyncServer = start_server(database_url, run_jobs=True)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield channel
    finally:
        server.stop(grace=1.0)


def vault_value(emulator: KeyVaultEmulator, name: str) -> str | None:
    try:
        return emulator.vault().get_secret(name).version.value
    except Exception:
        return None


def eventually(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return result


def emulator_connection(channel: grpc.Channel, project_id: str, emulator) -> str:
    return cgrpc.AzureConnectionServiceStub(channel).CreateAzureConnection(
        capi.CreateAzureConnectionRequest(
            project_id=project_id,
            name="emulator",
            cloud=cpb.AZURE_CLOUD_PUBLIC,
            client_secret_auth=cpb.ClientSecretAuth(
                tenant_id=emulator.tenant_id,
                client_id=emulator.client_id,
                client_secret=emulator.client_secret,
                authority_host=emulator.url,
            ),
        )
    ).connection.id
