"""The emulator is as strict as Key Vault by default: long-running deletes, recovers and
purges, throttling at the documented numbers, known api-versions only, certificate-backed
secrets and the 403 variants. `lenient=True` relaxes the first three."""

from __future__ import annotations

import time

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.keyvault.secrets import ApiVersion
from azure.keyvault.secrets._shared.client_base import DEFAULT_VERSION

from keyvault_emulator import KeyVaultEmulator, RateLimit
from keyvault_emulator.api_versions import KNOWN
from tests.emulator.conftest import credential_for, inner_code, vault_request


def test_the_defaults_are_key_vaults():
    emulator = KeyVaultEmulator()
    assert emulator.timing.describe() == {
        "delete_seconds": 2.0,
        "recover_seconds": 2.0,
        "purge_seconds": 2.0,
    }
    assert emulator.faults.rate_limit == RateLimit(sets=300, total=4000, window_seconds=10.0)
    assert emulator.app.check_api_version


def test_lenient_turns_the_strict_parts_off():
    emulator = KeyVaultEmulator(lenient=True)
    assert set(emulator.timing.describe().values()) == {0.0}
    assert emulator.faults.rate_limit is None
    assert not emulator.app.check_api_version


def test_the_pinned_sdk_sends_a_known_version():
    # An SDK upgrade that starts sending a version missing here must fail until checked.
    assert DEFAULT_VERSION.value in KNOWN
    assert {v.value for v in ApiVersion} <= set(KNOWN)


@pytest.mark.parametrize("version", ["1999-01-01", "banana", "7.7"])
def test_an_unknown_api_version_is_bad_parameter(emulator, version):
    response = vault_request(emulator, "GET", "/secrets", api_version=version)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "BadParameter"
    assert f"The specified version ({version}) is not recognized" in error["message"]


def test_throttling_is_on_by_default_and_clear_keeps_it(emulator):
    emulator.faults.clear()  # faults are gone, Key Vault's throttling is not
    assert emulator.faults.rate_limit == RateLimit()


def test_a_set_during_the_deletion_answers_being_deleted(emulator, raw_client):
    raw_client.set_secret("busy", "v")
    raw_client.begin_delete_secret("busy")
    with pytest.raises(ResourceExistsError) as busy:
        raw_client.set_secret("busy", "again")
    assert inner_code(busy.value) == "ObjectIsBeingDeleted"
    assert [p.name for p in raw_client.list_properties_of_secrets()] == []
    assert list(raw_client.list_deleted_secrets()) == []  # not deleted yet either


def test_a_recovery_in_progress_hides_the_name_and_refuses_sets(emulator, raw_client):
    emulator.timing.delete_seconds = 0.0
    raw_client.set_secret("returning", "v")
    raw_client.begin_delete_secret("returning")
    raw_client.begin_recover_deleted_secret("returning")
    with pytest.raises(ResourceNotFoundError):
        raw_client.get_secret("returning")
    with pytest.raises(ResourceExistsError) as busy:
        raw_client.set_secret("returning", "v2")
    assert inner_code(busy.value) == "ObjectIsBeingDeleted"
    assert [p.name for p in raw_client.list_properties_of_secrets()] == []
    assert list(raw_client.list_deleted_secrets()) == []


def test_a_purge_in_progress_refuses_sets_then_frees_the_name(emulator, raw_client):
    emulator.timing.delete_seconds = 0.0
    emulator.timing.purge_seconds = 0.3
    raw_client.set_secret("purging", "v")
    raw_client.begin_delete_secret("purging")
    raw_client.purge_deleted_secret("purging")
    with pytest.raises(ResourceExistsError) as busy:
        raw_client.set_secret("purging", "v2")
    assert inner_code(busy.value) == "ObjectIsBeingDeleted"
    with pytest.raises(ResourceNotFoundError):
        raw_client.get_deleted_secret("purging")
    time.sleep(0.35)
    assert raw_client.set_secret("purging", "v2").value == "v2"


def test_certificate_backed_secrets_are_listed_readable_and_refuse_writes(emulator, raw_client):
    emulator.seed_certificate("tls-cert", "MIIC...")
    listed = list(raw_client.list_properties_of_secrets())
    assert [(p.name, p.managed) for p in listed] == [("tls-cert", True)]
    secret = raw_client.get_secret("tls-cert")
    assert secret.value == "MIIC..."
    assert secret.properties.managed is True
    assert secret.properties.key_id == f"{emulator.url}/keys/tls-cert/{secret.properties.version}"
    for write in (
        lambda: raw_client.set_secret("tls-cert", "mine now"),
        lambda: raw_client.begin_delete_secret("tls-cert"),
        lambda: raw_client.update_secret_properties("tls-cert", enabled=False),
    ):
        with pytest.raises(HttpResponseError) as refused:
            write()
        assert refused.value.status_code == 403
    assert raw_client.get_secret("tls-cert").value == "MIIC..."


def test_certificates_are_seeded_over_http(emulator, raw_client):
    response = requests.put(
        f"{emulator.url}/_emulator/vaults/{emulator.vault_name}/certificates/web",
        json={"value": "PEM", "content_type": "application/x-pem-file"},
        verify=str(emulator.ca_path),
        timeout=10,
    )
    assert response.status_code == 200
    assert raw_client.get_secret("web").properties.content_type == "application/x-pem-file"


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("ForbiddenByRbac", "Caller is not authorized to perform action on resource"),
        ("ForbiddenByFirewall", "Client address is not authorized"),
        ("ForbiddenByPolicy", "denied by an Azure Policy assignment"),
        ("AccessDenied", "does not have secrets set permission"),
    ],
)
def test_seeded_denials_answer_their_403_variant(emulator, raw_client, code, says):
    emulator.deny(code, permissions=["set"], names=["locked"])
    raw_client.set_secret("open", "v")  # another name: allowed
    with pytest.raises(HttpResponseError) as refused:
        raw_client.set_secret("locked", "v")
    assert refused.value.status_code == 403
    assert refused.value.error.code == "Forbidden"
    assert inner_code(refused.value) == code
    assert says in refused.value.error.message


def test_denials_per_principal_and_vault_over_http(emulator, make_client):
    emulator.add_principal("other-app", "pw")
    admin = f"{emulator.url}/_emulator/denials"
    verify = str(emulator.ca_path)
    spec = {"code": "ForbiddenByFirewall", "client_id": "other-app", "vault": "emulator"}
    assert requests.post(admin, json=spec, verify=verify, timeout=10).status_code == 200
    bad = requests.post(admin, json={"code": "Nope"}, verify=verify, timeout=10)
    assert bad.status_code == 400
    other = make_client(credential_for(emulator, client_id="other-app", client_secret="pw"),
                        retry_total=0)
    with pytest.raises(HttpResponseError) as refused:
        list(other.list_properties_of_secrets())
    assert inner_code(refused.value) == "ForbiddenByFirewall"
    make_client(retry_total=0).set_secret("fine", "v")  # the default principal is let in
    assert requests.delete(admin, verify=verify, timeout=10).status_code == 204
    assert [p.name for p in other.list_properties_of_secrets()] == ["fine"]
