"""The AzureConnection aggregate, its rules, and credential sealing."""

from __future__ import annotations

import uuid

import pytest

from adapters.azure_credentials import open_credentials, seal_credentials
from adapters.envelope import RootKey
from domain.connection import (
    CLOUDS,
    AuthMethod,
    AzureConnection,
    ConnectionIndex,
    check_authority_host,
    check_certificate_auth,
    check_client_secret_auth,
    check_cloud,
    check_managed_identity_auth,
    check_vault_in_cloud,
)
from domain.errors import AlreadyExists, NotFound

TENANT = "e0000000-0000-4000-8000-000000000001"
CLIENT = "c0000000-0000-4000-8000-000000000001"
CERT = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\n"


def fields(violations):
    return sorted(v.field for v in violations)


def new_connection(**overrides):
    values = dict(
        project_id=str(uuid.uuid4()),
        name="my-azure",
        description="",
        cloud="public",
        auth_method=AuthMethod.CLIENT_SECRET,
        tenant_id=TENANT,
        client_id=CLIENT,
        authority_host="",
        wrapped_key="k",
        sealed_credentials="v1.sealed",
        actor="anonymous",
        request_id="r-1",
    )
    values.update(overrides)
    return AzureConnection.create(uuid.uuid4(), **values)


def test_clouds_have_their_authority_and_vault_suffix():
    assert CLOUDS["public"].authority_host == "login.microsoftonline.com"
    assert CLOUDS["china"].authority_host == "login.chinacloudapi.cn"
    assert CLOUDS["us_government"].authority_host == "login.microsoftonline.us"
    assert CLOUDS["public"].vault_suffix == "vault.azure.net"
    assert CLOUDS["china"].vault_suffix == "vault.azure.cn"
    assert CLOUDS["us_government"].vault_suffix == "vault.usgovcloudapi.net"


def test_created_records_actor_request_id_and_only_sealed_credentials():
    connection = new_connection()
    (created,) = connection.collect_events()
    assert created.actor == "anonymous" and created.request_id == "r-1"
    assert created.auth_method == "client_secret"
    assert created.sealed_credentials == "v1.sealed"
    assert not connection.deleted


def test_delete_once_then_not_found():
    connection = new_connection()
    connection.delete("anonymous", "r-2")
    assert connection.deleted
    with pytest.raises(NotFound) as raised:
        connection.delete("anonymous", "r-3")
    assert raised.value.reason == "CONNECTION_NOT_FOUND"


def test_index_keeps_names_unique_and_pages_by_name():
    index = ConnectionIndex(project_id="p")
    for name in ("b", "a", "c"):
        index.add(name, f"id-{name}")
    with pytest.raises(AlreadyExists):
        index.add("a", "other")
    assert index.page("", 2) == ["id-a", "id-b"]
    assert index.page("b", 2) == ["id-c"]
    index.remove("b")
    assert index.page("", 10) == ["id-a", "id-c"]


def test_client_secret_rules_name_every_bad_field():
    assert check_client_secret_auth(TENANT, CLIENT, "s3cret", "", dev_mode=False) == []
    bad = check_client_secret_auth("nope", "", "x" * 1025, "", dev_mode=False)
    assert fields(bad) == [
        "client_secret_auth.client_id",
        "client_secret_auth.client_secret",
        "client_secret_auth.tenant_id",
    ]
    assert fields(check_client_secret_auth(TENANT, CLIENT, "", "", dev_mode=False)) == [
        "client_secret_auth.client_secret"
    ]
    # the violation never repeats the secret
    secret = "line\nbreak-SECRET"
    (violation,) = check_client_secret_auth(TENANT, CLIENT, secret, "", dev_mode=False)
    assert "SECRET" not in violation.description


def test_authority_override_only_in_development_mode():
    assert check_authority_host("f", "", dev_mode=False) == []
    assert check_authority_host("f", "https://127.0.0.1:8443", dev_mode=True) == []
    (refused,) = check_authority_host("f", "https://127.0.0.1:8443", dev_mode=False)
    assert "development mode" in refused.description
    assert check_authority_host("f", "http://127.0.0.1:8443", dev_mode=True)
    assert check_authority_host("f", "https://host/tenant", dev_mode=True)


def test_certificate_rules_check_pem_shape():
    assert check_certificate_auth(TENANT, CLIENT, CERT, KEY) == []
    assert fields(check_certificate_auth(TENANT, CLIENT, "not a pem", CERT)) == [
        "certificate_auth.certificate_pem",
        "certificate_auth.private_key_pem",
    ]
    rsa_key = KEY.replace("PRIVATE KEY", "RSA PRIVATE KEY")
    assert check_certificate_auth(TENANT, CLIENT, CERT, rsa_key) == []
    encrypted = KEY.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY")
    assert fields(check_certificate_auth(TENANT, CLIENT, CERT, encrypted)) == [
        "certificate_auth.private_key_pem"
    ]


def test_managed_identity_client_id_is_optional():
    assert check_managed_identity_auth("") == []
    assert check_managed_identity_auth(CLIENT) == []
    assert fields(check_managed_identity_auth("x")) == ["managed_identity_auth.client_id"]


def test_cloud_and_vault_suffix_rules():
    assert check_cloud("china") == []
    assert fields(check_cloud("")) == ["cloud"]
    assert check_vault_in_cloud("https://v1.vault.azure.cn", "china") == []
    assert fields(check_vault_in_cloud("https://v1.vault.azure.net", "china")) == [
        "vault_base_url"
    ]


def test_credentials_are_sealed_to_their_connection():
    root = RootKey.from_text(RootKey.generate_text())
    wrapped, sealed = seal_credentials(root, "one", {"client_secret": "hunter2"})
    assert "hunter2" not in sealed
    assert open_credentials(root, "one", wrapped, sealed) == {"client_secret": "hunter2"}
    with pytest.raises(Exception):  # noqa: B017 - AES-GCM refuses another identity
        open_credentials(root, "two", wrapped, sealed)
