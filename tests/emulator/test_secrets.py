"""Secrets CRUD through the real SDK: values, versions, properties, names and limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from tests.emulator.conftest import inner_code, vault_request

VERSION = re.compile(r"^[0-9a-f]{32}$")


def test_set_then_get_returns_the_value_and_a_versioned_id(emulator, client):
    stored = client.set_secret(
        "db-password", "s3cret", content_type="text/plain", tags={"owner": "kms"}
    )
    assert stored.value == "s3cret"
    assert stored.id.startswith(f"{emulator.url}/secrets/db-password/")
    assert VERSION.match(stored.properties.version)
    fetched = client.get_secret("db-password")
    assert fetched.value == "s3cret"
    assert fetched.id == stored.id
    assert fetched.properties.content_type == "text/plain"
    assert fetched.properties.tags == {"owner": "kms"}
    assert fetched.properties.enabled is True
    assert fetched.properties.recovery_level == "Recoverable+Purgeable"
    assert fetched.properties.recoverable_days == 90
    assert fetched.properties.created_on == fetched.properties.updated_on
    assert abs(fetched.properties.created_on - datetime.now(UTC)) < timedelta(seconds=5)


def test_bundle_shape_on_the_wire(emulator, client):
    client.set_secret("plain", "v")
    body = vault_request(emulator, "GET", "/secrets/plain/", api_version="2026-04-01").json()
    assert set(body) == {"value", "id", "attributes"}  # no tags or contentType when unset
    assert set(body["attributes"]) == {
        "enabled",
        "created",
        "updated",
        "recoverableDays",
        "recoveryLevel",
    }
    assert isinstance(body["attributes"]["created"], int)


def test_empty_value_is_allowed(client):
    client.set_secret("empty", "")
    assert client.get_secret("empty").value == ""


def test_every_set_adds_a_version(client):
    first = client.set_secret("rotating", "v1")
    client.set_secret("rotating", "v2")
    third = client.set_secret("rotating", "v3")
    versions = {p.version for p in client.list_properties_of_secret_versions("rotating")}
    assert len(versions) == 3
    assert all(VERSION.match(v) for v in versions)
    assert client.get_secret("rotating").value == "v3"
    assert client.get_secret("rotating", first.properties.version).value == "v1"
    assert client.get_secret("rotating", third.properties.version).value == "v3"


def test_unknown_version_is_not_found(raw_client):
    raw_client.set_secret("a", "1")
    with pytest.raises(ResourceNotFoundError) as missing:
        raw_client.get_secret("a", "0" * 32)
    assert missing.value.error.code == "SecretNotFound"


def test_missing_secret_is_secret_not_found(raw_client):
    with pytest.raises(ResourceNotFoundError) as missing:
        raw_client.get_secret("nothing-here")
    assert missing.value.status_code == 404
    assert missing.value.error.code == "SecretNotFound"
    assert "A secret with (name/id) nothing-here was not found" in missing.value.error.message


def test_dates_round_trip_as_unix_seconds(client):
    not_before = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    expires = not_before + timedelta(days=30)
    client.set_secret("dated", "v", not_before=not_before, expires_on=expires)
    properties = client.get_secret("dated").properties
    assert properties.not_before == not_before
    assert properties.expires_on == expires


def test_update_properties_of_the_latest_version(client):
    client.set_secret("tagged", "v", tags={"a": "1"})
    updated = client.update_secret_properties(
        "tagged", content_type="application/json", tags={"b": "2"}
    )
    assert updated.content_type == "application/json"
    assert updated.tags == {"b": "2"}  # tags are replaced, not merged
    assert updated.updated_on >= updated.created_on
    again = client.get_secret("tagged")
    assert again.value == "v"
    assert again.properties.tags == {"b": "2"}


def test_update_a_specific_version(client):
    old = client.set_secret("multi", "old")
    client.set_secret("multi", "new")
    client.update_secret_properties("multi", old.properties.version, tags={"stale": "yes"})
    assert client.get_secret("multi", old.properties.version).properties.tags == {"stale": "yes"}
    assert client.get_secret("multi").properties.tags is None


def test_disabled_secret_cannot_be_read_but_is_listed(raw_client):
    raw_client.set_secret("off", "hidden")
    raw_client.update_secret_properties("off", enabled=False)
    with pytest.raises(HttpResponseError) as refused:
        raw_client.get_secret("off")
    assert refused.value.status_code == 403
    assert refused.value.error.code == "Forbidden"
    assert inner_code(refused.value) == "SecretDisabled"
    assert refused.value.error.message == "Operation get is not allowed on a disabled secret."
    listed = {p.name: p.enabled for p in raw_client.list_properties_of_secrets()}
    assert listed == {"off": False}
    raw_client.update_secret_properties("off", enabled=True)
    assert raw_client.get_secret("off").value == "hidden"


def test_set_can_create_a_disabled_secret(raw_client):
    raw_client.set_secret("born-off", "v", enabled=False)
    with pytest.raises(HttpResponseError) as refused:
        raw_client.get_secret("born-off")
    assert inner_code(refused.value) == "SecretDisabled"


def test_names_are_case_insensitive_and_keep_the_first_casing(emulator, client):
    first = client.set_secret("Foo", "one")
    same = client.get_secret("foo")
    assert same.id == first.id
    assert same.name == "Foo"
    second = client.set_secret("FOO", "two")
    assert second.name == "Foo"
    assert client.get_secret("fOo").value == "two"
    assert [p.name for p in client.list_properties_of_secrets()] == ["Foo"]
    assert len(list(client.list_properties_of_secret_versions("foo"))) == 2


@pytest.mark.parametrize("name", ["my_secret", "a.b", "x" * 128, "sp ace", "ünïcode"])
def test_invalid_names_are_bad_parameter(raw_client, name):
    with pytest.raises(HttpResponseError) as invalid:
        raw_client.set_secret(name, "v")
    assert invalid.value.status_code == 400
    assert invalid.value.error.code == "BadParameter"
    assert invalid.value.error.message == f"The request URI contains an invalid name: {name}"


def test_longest_valid_name_is_accepted(client):
    name = "a-" * 63 + "z"  # 127 characters
    assert client.set_secret(name, "v").name == name


def test_empty_name_is_method_not_allowed(raw_client):
    with pytest.raises(HttpResponseError) as refused:
        raw_client.set_secret("", "v")
    assert refused.value.status_code == 405


def test_value_size_limit(raw_client):
    raw_client.set_secret("biggest", "x" * 25_600)
    with pytest.raises(HttpResponseError) as too_big:
        raw_client.set_secret("too-big", "x" * 25_601)
    assert too_big.value.status_code == 400
    assert too_big.value.error.code == "BadParameter"


def test_value_size_limit_counts_utf8_bytes(raw_client):
    raw_client.set_secret("accents", "é" * 12_800)  # 25,600 bytes
    with pytest.raises(HttpResponseError) as too_big:
        raw_client.set_secret("more-accents", "é" * 12_801)  # 12,801 chars, 25,602 bytes
    assert too_big.value.error.code == "BadParameter"
    assert "25600 bytes" in too_big.value.error.message


def test_tag_and_content_type_limits(raw_client):
    raw_client.set_secret("fifteen", "v", tags={f"t{i}": "x" for i in range(15)})
    with pytest.raises(HttpResponseError) as tags:
        raw_client.set_secret("sixteen", "v", tags={f"t{i}": "x" for i in range(16)})
    assert tags.value.error.code == "BadParameter"
    with pytest.raises(HttpResponseError) as long_tag:
        raw_client.set_secret("long-tag", "v", tags={"t": "x" * 513})
    assert long_tag.value.error.code == "BadParameter"
    raw_client.set_secret("ct", "v", content_type="c" * 255)
    with pytest.raises(HttpResponseError) as content_type:
        raw_client.set_secret("ct", "v", content_type="c" * 256)
    assert content_type.value.error.code == "BadParameter"


def test_every_version_the_sdk_knows_is_accepted(emulator):
    for version in ("7.4", "7.5", "7.6", "2025-07-01", "2026-04-01"):
        response = vault_request(
            emulator, "PUT", "/secrets/v", api_version=version, json={"value": version}
        )
        assert response.status_code == 200, version


def test_missing_api_version_is_bad_parameter(emulator):
    response = vault_request(emulator, "GET", "/secrets", api_version=None)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BadParameter"


def test_body_must_be_json_with_a_value(emulator):
    not_json = vault_request(
        emulator, "PUT", "/secrets/x", data=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    no_value = vault_request(emulator, "PUT", "/secrets/x", json={"tags": {}})
    assert no_value.status_code == 400
    assert no_value.json()["error"]["code"] == "BadParameter"
