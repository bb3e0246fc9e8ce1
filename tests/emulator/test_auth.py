"""The token flow as the real SDK runs it: discovery, client credentials, the 401 challenge."""

from __future__ import annotations

import re
import time

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

from keyvault_emulator import KeyVaultEmulator
from tests.emulator.conftest import (
    access_token,
    credential_for,
    inner_code,
    token_response,
    vault_request,
)

VAULT_SCOPE = "https://vault.azure.net/.default"


def test_credential_gets_a_token_from_the_emulator(emulator):
    token = credential_for(emulator).get_token(VAULT_SCOPE)
    assert token.token
    assert 3500 < token.expires_on - time.time() <= 3600
    assert emulator.counts()["discovery"] == 1
    assert emulator.counts()["token"] == 1


def test_first_request_is_challenged_then_authorised(emulator, client):
    client.set_secret("a", "1")
    counts = emulator.counts()
    assert counts["challenge"] == 1  # the bodiless first PUT
    assert counts["set"] == 2  # challenged + authorised
    client.get_secret("a")
    assert emulator.counts()["challenge"] == 1  # the challenge and the token are cached


def test_challenge_points_at_the_emulator_itself(emulator):
    response = vault_request(emulator, "GET", "/secrets", token=None)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer authorization="{emulator.url}/{emulator.tenant_id}", '
        'resource="https://vault.azure.net"'
    )
    assert response.json() == {
        "error": {
            "code": "Unauthorized",
            "message": "AKV10000: Request is missing a Bearer or PoP token.",
        }
    }


def test_wrong_client_secret_raises_client_authentication_error(emulator, make_client):
    credential = credential_for(emulator, client_secret="not-the-secret")
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        credential.get_token(VAULT_SCOPE)
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        make_client(credential, retry_total=0).get_secret("anything")


def test_unknown_client_id_is_refused(emulator):
    with pytest.raises(ClientAuthenticationError, match="AADSTS700016"):
        credential_for(emulator, client_id="nobody").get_token(VAULT_SCOPE)


def test_unknown_tenant_is_refused(emulator):
    with pytest.raises(ClientAuthenticationError, match="authority configuration"):
        credential_for(emulator, tenant_id="some-other-tenant").get_token(VAULT_SCOPE)
    response = requests.get(
        f"{emulator.url}/some-other-tenant/v2.0/.well-known/openid-configuration",
        verify=str(emulator.ca_path),
        timeout=10,
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_tenant"
    assert body["error_codes"] == [90002]
    assert body["error_description"].startswith("AADSTS90002: Tenant 'some-other-tenant'")


def test_openid_configuration_lives_on_the_emulator(emulator):
    response = requests.get(
        f"{emulator.url}/{emulator.tenant_id}/v2.0/.well-known/openid-configuration",
        verify=str(emulator.ca_path),
        timeout=10,
    )
    config = response.json()
    root = f"{emulator.url}/{emulator.tenant_id}"
    assert config["token_endpoint"] == f"{root}/oauth2/v2.0/token"
    assert config["authorization_endpoint"] == f"{root}/oauth2/v2.0/authorize"
    assert config["issuer"] == f"{root}/v2.0"


def test_token_response_shape(emulator):
    response = token_response(emulator, VAULT_SCOPE)
    body = response.json()
    assert set(body) == {"token_type", "access_token", "expires_in", "ext_expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == body["ext_expires_in"] == 3600
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", body["access_token"])


def test_scope_without_default_suffix_is_invalid(emulator):
    response = token_response(emulator, "https://vault.azure.net/secrets.read")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_token_for_another_audience_is_refused_by_the_vault(emulator):
    token = access_token(emulator, scope="https://management.azure.com/.default")
    response = vault_request(emulator, "GET", "/secrets", token=token)
    assert response.status_code == 401
    assert "AKV10022" in response.json()["error"]["message"]
    assert "WWW-Authenticate" in response.headers


def test_revoked_tokens_make_the_sdk_authenticate_again(emulator, client):
    client.set_secret("a", "1")
    emulator.identity.revoke_all()
    assert client.get_secret("a").value == "1"
    assert emulator.counts()["token"] == 2


def test_expired_token_is_challenged():
    now = [time.time()]
    with KeyVaultEmulator(clock=lambda: now[0]) as emulator:
        token = access_token(emulator)
        assert vault_request(emulator, "GET", "/secrets", token=token).status_code == 200
        now[0] += 3601
        expired = vault_request(emulator, "GET", "/secrets", token=token)
        assert expired.status_code == 401
        assert expired.headers["WWW-Authenticate"].startswith("Bearer authorization=")


def test_resource_verification_must_be_off_for_loopback(emulator, make_client):
    """As the facts say: 127.0.0.1 does not end with .vault.azure.net."""
    from azure.keyvault.secrets import SecretClient

    client = SecretClient(
        emulator.url,
        credential_for(emulator),
        connection_verify=str(emulator.ca_path),
        retry_total=0,
    )
    with pytest.raises(ValueError, match="verify_challenge_resource"):
        client.get_secret("a")


def test_principal_without_permission_gets_403(emulator, make_client):
    emulator.vault().set_secret("shared", "value")
    emulator.add_principal("reader", "reader-secret", ["get", "list"])
    reader = make_client(
        credential_for(emulator, client_id="reader", client_secret="reader-secret"), retry_total=0
    )
    assert reader.get_secret("shared").value == "value"
    assert [p.name for p in reader.list_properties_of_secrets()] == ["shared"]
    with pytest.raises(HttpResponseError) as denied:
        reader.set_secret("shared", "changed")
    assert denied.value.status_code == 403
    assert denied.value.error.code == "Forbidden"
    assert inner_code(denied.value) == "AccessDenied"
    assert "does not have secrets set permission" in denied.value.error.message
    with pytest.raises(HttpResponseError) as no_delete:
        reader.begin_delete_secret("shared")
    assert no_delete.value.status_code == 403
    assert emulator.counts()["forbidden"] == 2
    emulator.set_permissions("reader", ["get", "list", "set"])
    assert reader.set_secret("shared", "changed").value == "changed"
