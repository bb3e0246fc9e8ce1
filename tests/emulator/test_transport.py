"""HTTPS and HTTP/1.1 details the SDK's pooled connections rely on; several vaults."""

from __future__ import annotations

import http.client
import json
import ssl

import pytest

from keyvault_emulator import KeyVaultEmulator
from tests.emulator.conftest import access_token, credential_for, vault_request


def connect(emulator: KeyVaultEmulator) -> http.client.HTTPSConnection:
    context = ssl.create_default_context(cafile=str(emulator.ca_path))
    return http.client.HTTPSConnection("127.0.0.1", emulator.port, context=context, timeout=10)


def test_connection_is_kept_alive_and_every_answer_has_a_length(emulator):
    token = access_token(emulator)
    headers = {"Authorization": f"Bearer {token}", "Connection": "keep-alive"}
    connection = connect(emulator)
    body = json.dumps({"value": "v"})
    connection.request(
        "PUT",
        "/secrets/k?api-version=7.5",
        body=body,
        headers={**headers, "Content-Type": "application/json"},
    )
    first = connection.getresponse()
    assert first.status == 200
    assert int(first.headers["Content-Length"]) == len(first.read())
    socket_before = connection.sock
    connection.request("GET", "/secrets/k/?api-version=7.5", headers=headers)
    second = connection.getresponse()
    assert json.loads(second.read())["value"] == "v"
    assert connection.sock is socket_before  # same TLS connection, reused
    connection.request("GET", "/secrets/missing/?api-version=7.5", headers=headers)
    missing = connection.getresponse()
    assert missing.status == 404
    assert int(missing.headers["Content-Length"]) == len(missing.read())
    connection.close()


def test_chunked_request_body_is_read(emulator):
    token = access_token(emulator)
    connection = connect(emulator)
    chunks = iter([b'{"value": ', b'"chunky"}'])
    connection.request(
        "PUT",
        "/secrets/chunked?api-version=7.5",
        body=chunks,
        encode_chunked=True,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert connection.getresponse().status == 200
    connection.close()
    assert emulator.vault().get_secret("chunked").version.value == "chunky"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # TLS 1.0/1.1 are, on purpose
def test_old_tls_is_refused(emulator):
    context = ssl.create_default_context(cafile=str(emulator.ca_path))
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    connection = http.client.HTTPSConnection("127.0.0.1", emulator.port, context=context, timeout=5)
    with pytest.raises((ssl.SSLError, OSError)):
        connection.request("GET", "/_emulator/health")
    connection.close()


def test_certificate_is_valid_for_localhost_too(emulator):
    response = vault_request(emulator, "GET", f"https://localhost:{emulator.port}/secrets")
    assert response.status_code == 200
    assert response.json() == {"value": [], "nextLink": None}


def test_extra_vault_on_its_own_port(emulator, make_client):
    other_url = emulator.add_vault("second")
    first = make_client()
    first.set_secret("only-here", "1")
    from azure.keyvault.secrets import SecretClient

    second = SecretClient(
        other_url,
        credential_for(emulator),
        verify_challenge_resource=False,
        connection_verify=str(emulator.ca_path),
    )
    second.set_secret("only-there", "2")
    assert [p.name for p in first.list_properties_of_secrets()] == ["only-here"]
    assert [p.name for p in second.list_properties_of_secrets()] == ["only-there"]
    assert emulator.vault("second").get_secret("only-there").version.value == "2"
    second.close()


def test_host_header_selects_the_vault(emulator):
    host = f"myvault.vault.azure.net:{emulator.port}"
    response = vault_request(
        emulator, "PUT", "/secrets/named", json={"value": "mine"}, headers={"Host": host}
    )
    assert response.status_code == 200
    assert response.json()["id"].startswith(f"https://{host}/secrets/named/")
    assert emulator.vault("myvault").get_secret("named").version.value == "mine"
    with pytest.raises(Exception, match="SecretNotFound"):
        emulator.vault().get_secret("named")


def test_stop_closes_kept_alive_connections():
    emulator = KeyVaultEmulator()
    emulator.start()
    connection = connect(emulator)
    connection.request("GET", "/_emulator/health")
    assert connection.getresponse().read()
    emulator.stop()
    with pytest.raises((OSError, http.client.HTTPException)):
        connection.request("GET", "/_emulator/health")
        connection.getresponse()
    connection.close()
    assert not emulator.ca_path.exists()  # the temporary CA went with it


def test_parallel_clients_on_pooled_connections(emulator, client):
    from concurrent.futures import ThreadPoolExecutor

    client.set_secret("warm", "up")
    emulator.reset_counts()

    def write_and_read(i: int) -> str:
        client.set_secret(f"p{i}", str(i))
        return client.get_secret(f"p{i}").value

    with ThreadPoolExecutor(max_workers=8) as pool:
        values = list(pool.map(write_and_read, range(80)))
    assert values == [str(i) for i in range(80)]
    assert emulator.counts() == {"set": 80, "get": 80, "total": 160}
