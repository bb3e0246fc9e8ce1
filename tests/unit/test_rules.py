"""Unit tests for domain/rules.py: every settings rule, by table and by property."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import rules
from domain.errors import FieldViolation, InvalidArgument, require
from domain.options import InitialSyncBehavior
from domain.rules import (
    CONNECTION_ID,
    DESCRIPTION,
    ENVIRONMENT,
    INITIAL_SYNC_BEHAVIOR,
    KEY_SCHEMA,
    KEY_VAULT_SUFFIXES,
    NAME,
    SECRET_PATH,
    VAULT_BASE_URL,
    SyncSettings,
    check_description,
    check_environment,
    check_key_schema,
    check_name,
    check_refresh_interval,
    check_request_id,
    check_settings,
    check_uuid,
    normalise_secret_path,
    normalise_vault_base_url,
)

KNOWN_FIELDS = {
    NAME,
    DESCRIPTION,
    CONNECTION_ID,
    ENVIRONMENT,
    SECRET_PATH,
    VAULT_BASE_URL,
    INITIAL_SYNC_BEHAVIOR,
    KEY_SCHEMA,
}

# Modest and repeatable: no example database on disk, no flaky deadlines.
FAST = settings(max_examples=200, database=None, deadline=None)

CONNECTION = "0b1e3c52-7a6f-4d0e-9c1b-2f3a4b5c6d7e"
VAULT = "https://my-vault.vault.azure.net"
LONGEST_VAULT = "https://a" + "b" * 22 + "c.vault.azure.net"


def make_settings(**overrides: object) -> SyncSettings:
    values: dict[str, object] = {
        "name": "my-sync",
        "description": "an example sync",
        "is_enabled": True,
        "connection_id": CONNECTION,
        "environment": "dev",
        "secret_path": "/my-secrets",
        "vault_base_url": VAULT,
        "initial_sync_behavior": InitialSyncBehavior.OVERWRITE_DESTINATION,
        "key_schema": "",
        "disable_secret_deletion": False,
    }
    values.update(overrides)
    return SyncSettings(**values)  # type: ignore[arg-type]


def only(violations: list[FieldViolation]) -> FieldViolation:
    """The violations of a value that breaks rules of one field: every rule it breaks is
    reported (once each), so they are joined into one for the assertions."""
    assert violations and len({v.field for v in violations}) == 1, violations
    descriptions = [v.description for v in violations]
    assert len(descriptions) == len(set(descriptions)), violations
    return FieldViolation(violations[0].field, "; ".join(descriptions))


# --- name ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "0", "my-sync", "a1-b2-c3", "sync-2024", "x" * 64])
def test_name_accepts_slugs(name):
    assert check_name(name) == []


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "is required"),
        ("x" * 65, "at most 64"),
        ("a-" * 32 + "a", "at most 64"),  # 65 characters, otherwise a valid slug
        ("My-Sync", "slug"),
        ("-sync", "slug"),
        ("sync-", "slug"),
        ("my--sync", "slug"),
        ("my_sync", "slug"),
        ("my sync", "slug"),
        ("my.sync", "slug"),
        ("synç", "slug"),
        (" sync", "slug"),
    ],
)
def test_name_rejects(name, why):
    violation = only(check_name(name))
    assert violation.field == NAME
    assert why in violation.description


def test_name_rejects_trailing_newline():
    assert check_name("my-sync\n") != []


# --- description --------------------------------------------------------------


@pytest.mark.parametrize(
    "description",
    ["", "plain text", "line one\nline two", "tab\tseparated", "ünïcödé ✓", "x" * 256],
)
def test_description_accepts(description):
    assert check_description(description) == []


@pytest.mark.parametrize(
    ("description", "why"),
    [
        ("x" * 257, "at most 256"),
        ("carriage\rreturn", "control, format"),
        ("nul\x00byte", "control, format"),
        ("\x1b[31mred", "control, format"),
        ("bell\x07", "control, format"),
        ("\x1f", "control, format"),
    ],
)
def test_description_rejects(description, why):
    violation = only(check_description(description))
    assert violation.field == DESCRIPTION
    assert why in violation.description


@pytest.mark.parametrize("description", ["del\x7f", "csi\x9b31m", "nel\x85"])
def test_description_rejects_del_and_c1_controls(description):
    assert check_description(description) != []


# --- connection_id (UUID) -----------------------------------------------------


@pytest.mark.parametrize("value", [CONNECTION, CONNECTION.upper(), str(uuid.UUID(int=0))])
def test_uuid_accepts_canonical_form(value):
    assert check_uuid(CONNECTION_ID, value) == []


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("", "is required"),
        ("not-a-uuid", "must be a UUID"),
        ("0b1e3c52-7a6f-4d0e-9c1b-2f3a4b5c6d7", "must be a UUID"),  # one digit short
        ("0b1e3c52-7a6f-4d0e-9c1b-2f3a4b5c6d7g", "must be a UUID"),
        (CONNECTION.replace("-", ""), "in the form"),
        ("{" + CONNECTION + "}", "in the form"),
        ("urn:uuid:" + CONNECTION, "in the form"),
        ("0b1e3c527-a6f-4d0e-9c1b-2f3a4b5c6d7e", "in the form"),  # dashes misplaced
    ],
)
def test_uuid_rejects(value, why):
    violation = only(check_uuid(CONNECTION_ID, value))
    assert violation.field == CONNECTION_ID
    assert why in violation.description


def test_uuid_reports_the_field_it_was_given():
    assert only(check_uuid("id", "nope")).field == "id"


@FAST
@given(st.uuids())
def test_uuid_property_any_uuid_in_canonical_form_is_accepted(value):
    assert check_uuid(CONNECTION_ID, str(value)) == []
    assert check_uuid(CONNECTION_ID, str(value).upper()) == []
    assert check_uuid(CONNECTION_ID, value.hex) != []


# --- environment --------------------------------------------------------------


@pytest.mark.parametrize("slug", ["dev", "prod-eu", "prod_eu_1", "a", "9", "a" * 64])
def test_environment_accepts_slugs(slug):
    assert check_environment(slug) == []


@pytest.mark.parametrize(
    ("slug", "why"),
    [
        ("", "is required"),
        ("a" * 65, "at most 64"),
        ("Dev", "environment slug"),
        ("-dev", "environment slug"),
        ("dev_", "environment slug"),
        ("de--v", "environment slug"),
        ("de_-v", "environment slug"),
        ("dev env", "environment slug"),
        ("dév", "environment slug"),
    ],
)
def test_environment_rejects(slug, why):
    violation = only(check_environment(slug))
    assert violation.field == ENVIRONMENT
    assert why in violation.description


def test_environment_rejects_trailing_newline():
    assert check_environment("dev\n") != []


# --- secret_path --------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "normalised"),
    [
        ("/", "/"),
        ("/a", "/a"),
        ("/a/", "/a"),
        ("/my-secrets/", "/my-secrets"),
        ("/a/b/c", "/a/b/c"),
        ("/A-b/_c-d/e_f", "/A-b/_c-d/e_f"),
        ("/" + "x" * 64, "/" + "x" * 64),
        ("/a" * 20, "/a" * 20),  # exactly the maximum depth
        ("/a" * 20 + "/", "/a" * 20),
    ],
)
def test_secret_path_is_normalised(path, normalised):
    assert normalise_secret_path(path) == (normalised, [])


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("", "is required"),
        ("a/b", "absolute"),
        ("my-secrets", "absolute"),
        ("./a", "absolute"),
        ("/a//b", "empty, '.' or '..'"),
        ("/a//", "empty, '.' or '..'"),
        ("//a", "empty, '.' or '..'"),
        ("/.", "empty, '.' or '..'"),
        ("/..", "empty, '.' or '..'"),
        ("/a/./b", "empty, '.' or '..'"),
        ("/a/../b", "empty, '.' or '..'"),
        ("/a/..", "empty, '.' or '..'"),
        ("/a" * 21, "at most 20 deep"),
        ("/" + "x" * 65, "folder names are 1-64"),
        ("/a b", "folder names are 1-64"),
        ("/v1.2", "folder names are 1-64"),  # '.' separates folders in references
        ("/ä", "folder names are 1-64"),
        ("/a\\b", "folder names are 1-64"),
        ("/" + "x" * 512, "at most 512 characters"),
    ],
)
def test_secret_path_rejects(path, why):
    returned, violations = normalise_secret_path(path)
    violation = only(violations)
    assert violation.field == SECRET_PATH
    assert why in violation.description
    assert returned == path  # a refused path is handed back untouched


def test_secret_path_reports_the_field_it_was_given_for_structural_errors():
    assert only(normalise_secret_path("", "path")[1]).field == "path"
    assert only(normalise_secret_path("rel", "path")[1]).field == "path"
    assert only(normalise_secret_path("/a/../b", "path")[1]).field == "path"
    assert only(normalise_secret_path("/a" * 21, "path")[1]).field == "path"


def test_secret_path_bad_folder_name_reports_the_field_it_was_given():
    assert only(normalise_secret_path("/a b", "secret_import.path")[1]).field == (
        "secret_import.path"
    )


def test_secret_path_rejects_double_slash_root():
    assert normalise_secret_path("//")[1] != []


def test_secret_path_rejects_trailing_newline_in_a_folder_name():
    assert normalise_secret_path("/a\n")[1] != []


segment = st.text(alphabet="abcXYZ019_.-", min_size=1, max_size=8)
valid_looking_paths = st.lists(segment, min_size=0, max_size=22).map(
    lambda parts: "/" + "/".join(parts)
) | st.lists(segment, min_size=1, max_size=5).map(lambda parts: "/" + "/".join(parts) + "/")


@FAST
@given(valid_looking_paths | st.text(alphabet="/a.b-_ \\", max_size=30) | st.text(max_size=40))
def test_secret_path_property_normalised_output_is_a_fixed_point(path):
    out, violations = normalise_secret_path(path)
    if violations:
        assert out == path
        assert {v.field for v in violations} == {SECRET_PATH}
        return
    assert normalise_secret_path(out) == (out, [])
    assert out.startswith("/")
    assert out == "/" or not out.endswith("/")
    if out != "/":
        assert all(part not in ("", ".", "..") for part in out[1:].split("/"))
        assert len(out[1:].split("/")) <= rules.MAX_PATH_DEPTH
    assert out.rstrip("/") == path.rstrip("/") or out == "/"


# --- vault_base_url -----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        (VAULT, VAULT),
        (VAULT + "/", VAULT),
        (VAULT + ":443", VAULT),
        (VAULT + ":443/", VAULT),
        ("HTTPS://My-Vault.Vault.Azure.NET", VAULT),
        (VAULT + "?", VAULT),  # an empty query is no query
        ("https://abc.vault.azure.net", "https://abc.vault.azure.net"),  # 3 characters
        (LONGEST_VAULT, LONGEST_VAULT),  # 24 characters
        ("https://kv1.vault.azure.cn", "https://kv1.vault.azure.cn"),
        ("https://kv-1.vault.usgovcloudapi.net", "https://kv-1.vault.usgovcloudapi.net"),
        ("https://kv-1.vault.microsoftazure.de", "https://kv-1.vault.microsoftazure.de"),
    ],
)
def test_vault_url_is_normalised(url, normalised):
    assert normalise_vault_base_url(url) == (normalised, [])
    assert normalise_vault_base_url(url, allow_loopback=True) == (normalised, [])


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("", "is required"),
        (" " + VAULT, "without spaces"),
        ("https://my vault.vault.azure.net", "without spaces"),
        (VAULT + "\n", "without spaces"),
        (VAULT + "\x00", "without spaces"),
        ("https://a" + "b" * 300 + ".vault.azure.net", "at most 300"),
        (VAULT + ":abc", "must be a URL like"),
        (VAULT + ":99999", "must be a URL like"),
        ("https://[::1", "must be a URL like"),
        ("http://my-vault.vault.azure.net", "must use https"),
        ("ftp://my-vault.vault.azure.net", "must use https"),
        ("my-vault.vault.azure.net", "must use https"),
        ("//my-vault.vault.azure.net", "must use https"),
        ("https://user@my-vault.vault.azure.net", "user info"),
        ("https://user:pw@my-vault.vault.azure.net", "user info"),
        ("https://:pw@my-vault.vault.azure.net", "user info"),
        (VAULT + "/secrets", "no path, query or fragment"),
        (VAULT + "//", "no path, query or fragment"),
        (VAULT + "?api-version=7.4", "no path, query or fragment"),
        (VAULT + "#frag", "no path, query or fragment"),
        (VAULT + ":8443", "port other than 443"),
        (VAULT + ":80", "port other than 443"),
        ("https://example.com", "host must end with one of vault.azure.net"),
        ("https://vault.azure.net", "host must end with"),
        ("https://evilvault.azure.net", "host must end with"),
        ("https://my-vault.vault.azure.net.evil.com", "host must end with"),
        ("https://my-vault.vault.azure.net.", "host must end with"),
        ("https://my-vault.blob.core.windows.net", "host must end with"),
        ("https://localhost", "host must end with"),
        ("https://127.0.0.1", "host must end with"),
        ("https://ab.vault.azure.net", "vault name must be 3-24"),
        ("https://a" + "b" * 23 + "c.vault.azure.net", "vault name must be 3-24"),
        ("https://1vault.vault.azure.net", "starting with a letter"),
        ("https://-vault.vault.azure.net", "vault name"),
        ("https://vault-.vault.azure.net", "vault name"),
        ("https://my--vault.vault.azure.net", "vault name"),
        ("https://my_vault.vault.azure.net", "vault name"),
        ("https://a.b.vault.azure.net", "vault name"),
        ("https://x.my-vault.vault.azure.net", "vault name"),
        ("https://my%2Dvault.vault.azure.net", "vault name"),
    ],
)
def test_vault_url_rejects(url, why):
    returned, violations = normalise_vault_base_url(url)
    violation = only(violations)
    assert violation.field == VAULT_BASE_URL
    assert why in violation.description
    assert returned == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://localhost:8443", "port other than 443"),
        ("https://127.0.0.1:8443", "port other than 443"),
        ("https://[::1]:8443", "port other than 443"),
    ],
)
def test_vault_url_refuses_loopback_unless_allowed(url, why):
    assert why in only(normalise_vault_base_url(url)[1]).description


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://localhost:8443", "https://localhost:8443"),
        ("https://LOCALHOST:8443/", "https://localhost:8443"),
        ("https://localhost", "https://localhost"),
        ("https://127.0.0.1:8443", "https://127.0.0.1:8443"),
        ("https://127.0.0.2:8443", "https://127.0.0.2:8443"),  # all of 127/8 is loopback
        ("https://[::1]:8443", "https://[::1]:8443"),
        ("https://[::1]", "https://[::1]"),
    ],
)
def test_vault_url_accepts_loopback_when_allowed(url, normalised):
    assert normalise_vault_base_url(url, allow_loopback=True) == (normalised, [])
    # ... and the normalised form is stable.
    assert normalise_vault_base_url(normalised, allow_loopback=True) == (normalised, [])


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://localhost:8443", "must use https"),
        ("https://user@localhost:8443", "user info"),
        ("https://localhost:8443/path", "no path, query or fragment"),
        ("https://localhost.evil.com:8443", "port other than 443"),
        ("https://localhost.evil.com", "host must end with"),
        ("https://10.0.0.1:8443", "port other than 443"),
        ("https://[::2]:8443", "port other than 443"),
    ],
)
def test_vault_url_loopback_permission_covers_only_loopback_hosts(url, why):
    assert why in only(normalise_vault_base_url(url, allow_loopback=True)[1]).description


vault_names = st.from_regex(r"[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]", fullmatch=True)
hosts = st.tuples(
    vault_names | st.text(alphabet="ab1-.", min_size=1, max_size=30),
    st.sampled_from([*KEY_VAULT_SUFFIXES, "azure.net", "vault.azure.net.evil.com", "example.org"]),
).map(lambda t: f"{t[0]}.{t[1]}")
urls = st.builds(
    lambda scheme, host, port, tail, upper: (
        f"{scheme}://{host.upper() if upper else host}{port}{tail}"
    ),
    st.sampled_from(["https", "HTTPS", "Https", "http", ""]),
    hosts,
    st.sampled_from(["", ":443", ":8443", ":", ":x"]),
    st.sampled_from(["", "/", "/p", "?q=1", "#f", "?"]),
    st.booleans(),
)
SUFFIX_ALTERNATION = "|".join(re.escape(s) for s in KEY_VAULT_SUFFIXES)
NORMAL_VAULT_URL = re.compile(
    rf"https://[a-z](?:[a-z0-9]|-(?!-)){{1,22}}[a-z0-9]\.(?:{SUFFIX_ALTERNATION})"
)


@FAST
@given(urls | st.text(max_size=60))
def test_vault_url_property_accepted_urls_normalise_to_a_fixed_point(url):
    out, violations = normalise_vault_base_url(url)
    if violations:
        assert out == url
        assert {v.field for v in violations} == {VAULT_BASE_URL}
        return
    assert NORMAL_VAULT_URL.fullmatch(out), out
    assert out == "https://" + (urlsplit(url).hostname or "").lower()
    assert normalise_vault_base_url(out) == (out, [])
    assert normalise_vault_base_url(out, allow_loopback=True) == (out, [])


loopback_urls = st.builds(
    lambda host, port, tail: f"https://{host}{port}{tail}",
    st.sampled_from(["localhost", "LocalHost", "127.0.0.1", "127.1.2.3", "[::1]", "[0:0::1]"]),
    st.sampled_from(["", ":443", ":8443", ":1", ":65535"]),
    st.sampled_from(["", "/"]),
)


@FAST
@given(loopback_urls)
def test_vault_url_property_loopback_normalisation_is_a_fixed_point(url):
    out, violations = normalise_vault_base_url(url, allow_loopback=True)
    assert violations == []
    assert out.startswith("https://") and not out.endswith("/")
    assert normalise_vault_base_url(out, allow_loopback=True) == (out, [])


# --- key_schema ---------------------------------------------------------------


@pytest.mark.parametrize(
    "schema",
    [
        "",
        "{{secretKey}}",
        "prefix-{{secretKey}}",
        "{{secretKey}}-suffix",
        "{{environment}}-{{secretKey}}",
        "app-{{environment}}-{{secretKey}}_v2",
        "{{secretKey}}{{environment}}",
        "A-z_09-{{secretKey}}",
        "x" * 126 + "{{secretKey}}",
    ],
)
def test_key_schema_accepts(schema):
    assert check_key_schema(schema) == []


@pytest.mark.parametrize(
    ("schema", "why"),
    [
        ("x" * 243 + "{{secretKey}}", "at most 255"),
        ("static-name", "{{secretKey}} exactly once"),
        ("{{environment}}", "{{secretKey}} exactly once"),
        ("{{secretKey}}{{secretKey}}", "{{secretKey}} exactly once"),
        ("{{secretkey}}", "{{secretKey}} exactly once"),
        ("{{ secretKey }}", "{{secretKey}} exactly once"),
        ("{secretKey}", "{{secretKey}} exactly once"),
        ("{{environment}}{{environment}}{{secretKey}}", "{{environment}} at most once"),
        ("{{secretKey}}.x", "may hold only"),
        ("{{secretKey}} x", "may hold only"),
        ("{{secretKey}}{{env}}", "may hold only"),
        ("{{{secretKey}}}", "may hold only"),
        ("{{secretKey}}{{Environment}}", "may hold only"),
        ("é{{secretKey}}", "may hold only"),
        ("{{secretKey}}:{{environment}}", "may hold only"),
        ("pre/{{secretKey}}", "must not hold '/'"),
        ("app/{{environment}}/{{secretKey}}", "must not hold '/'"),
        ("x" * 127 + "{{secretKey}}", "at least 128 characters"),
        ("x" * 63 + "{{environment}}{{secretKey}}", "at least 128 characters"),
    ],
)
def test_key_schema_rejects(schema, why):
    violation = only(check_key_schema(schema))
    assert violation.field == KEY_SCHEMA
    assert why in violation.description


def test_key_schema_counts_the_sync_environment_for_the_length():
    schema = "x" * 100 + "-{{environment}}-{{secretKey}}"
    assert check_key_schema(schema, "dev") == []
    (violation,) = check_key_schema(schema, "e" * 30)
    assert "at least 133 characters" in violation.description


def test_key_schema_rejects_placeholder_assembled_from_pieces():
    assert check_key_schema("{{envir{{secretKey}}onment}}") != []


def test_key_schema_rejects_trailing_newline():
    assert check_key_schema("{{secretKey}}\n") != []


@FAST
@given(
    st.lists(
        st.sampled_from(["{{secretKey}}", "{{environment}}", "a", "-", "/", "_", "{", "}", "."]),
        max_size=12,
    ).map("".join)
    | st.text(max_size=40)
)
def test_key_schema_property_accepted_schemas_hold_the_placeholders_once(schema):
    violations = check_key_schema(schema)
    assert all(v.field == KEY_SCHEMA for v in violations)
    assert len(violations) == len({v.description for v in violations})
    if not violations and schema:
        assert schema.count("{{secretKey}}") == 1
        assert schema.count("{{environment}}") <= 1
        assert len(schema) <= rules.MAX_KEY_SCHEMA


# --- request_id ---------------------------------------------------------------


@pytest.mark.parametrize("request_id", ["", "abc-123", "!", "~" * 128, str(uuid.uuid4())])
def test_request_id_accepts(request_id):
    assert check_request_id(request_id) == []


@pytest.mark.parametrize(
    "request_id", ["a b", "x" * 129, "é", "\t", "a\x7f", "tab\tid", "\x00"]
)
def test_request_id_rejects(request_id):
    violation = only(check_request_id(request_id))
    assert violation.field == "request_id"
    assert "printable ASCII" in violation.description


def test_request_id_rejects_trailing_newline():
    assert check_request_id("req-1\n") != []


# --- check_settings -------------------------------------------------------------


def test_check_settings_accepts_and_normalises_valid_settings():
    given_settings = make_settings(
        connection_id=CONNECTION.upper(),
        secret_path="/my-secrets/",
        vault_base_url="HTTPS://My-Vault.vault.azure.net:443/",
    )
    normalised, violations = check_settings(given_settings)
    assert violations == []
    assert normalised == make_settings()
    # The input is left alone (it is frozen; a new value is returned).
    assert given_settings.secret_path == "/my-secrets/"


def test_check_settings_lists_every_bad_field_and_every_rule_it_breaks():
    bad = make_settings(
        name="Bad Name",
        description="x" * 300,
        connection_id="nope",
        environment="",
        secret_path="relative",
        vault_base_url="http://example.com",
        initial_sync_behavior=None,
        key_schema="no-placeholder",
    )
    normalised, violations = check_settings(bad)
    assert {v.field for v in violations} == set(KNOWN_FIELDS)
    by_field: dict[str, list[str]] = {}
    for v in violations:
        by_field.setdefault(v.field, []).append(v.description)
    assert by_field[INITIAL_SYNC_BEHAVIOR] == ["must be set"]
    assert by_field[VAULT_BASE_URL] == [  # http, and not a Key Vault host: both said
        "must use https",
        "host must end with one of " + ", ".join(rules.KEY_VAULT_SUFFIXES),
    ]
    # Unnormalisable values come back as given.
    assert normalised.secret_path == "relative"
    assert normalised.vault_base_url == "http://example.com"
    with pytest.raises(InvalidArgument) as raised:
        require(violations)
    assert raised.value.violations == violations
    assert raised.value.reason == "INVALID_ARGUMENT"
    assert str(raised.value) == "invalid request: " + ", ".join(sorted(KNOWN_FIELDS))


def test_check_settings_passes_the_loopback_permission_on():
    local = make_settings(vault_base_url="https://localhost:8443/")
    assert {v.field for v in check_settings(local)[1]} == {VAULT_BASE_URL}
    normalised, violations = check_settings(local, allow_loopback_vaults=True)
    assert violations == []
    assert normalised.vault_base_url == "https://localhost:8443"


def test_require_is_silent_without_violations():
    require([])


@pytest.mark.parametrize("behavior", list(InitialSyncBehavior))
def test_check_settings_accepts_every_initial_sync_behavior(behavior):
    assert check_settings(make_settings(initial_sync_behavior=behavior))[1] == []


@FAST
@given(
    st.builds(
        SyncSettings,
        name=st.text(max_size=70),
        description=st.text(max_size=300),
        is_enabled=st.booleans(),
        connection_id=st.text(max_size=40) | st.uuids().map(str),
        environment=st.text(max_size=70),
        secret_path=st.text(max_size=60) | valid_looking_paths,
        vault_base_url=st.text(max_size=60) | urls,
        initial_sync_behavior=st.none() | st.sampled_from(InitialSyncBehavior),
        key_schema=st.text(max_size=60),
        disable_secret_deletion=st.booleans(),
    ),
    st.booleans(),
)
def test_check_settings_property_never_raises_and_names_known_fields(given_settings, loopback):
    normalised, violations = check_settings(given_settings, allow_loopback_vaults=loopback)
    assert isinstance(normalised, SyncSettings)
    for violation in violations:
        assert isinstance(violation, FieldViolation)
        assert violation.field in KNOWN_FIELDS
        assert isinstance(violation.description, str) and violation.description
    said = [(v.field, v.description) for v in violations]
    assert len(said) == len(set(said)), "each rule a field breaks is reported once"
    # Fields that need no normalising come back unchanged.
    assert normalised.name == given_settings.name
    assert normalised.key_schema == given_settings.key_schema
    if not violations:
        assert check_settings(normalised, allow_loopback_vaults=loopback) == (normalised, [])


slugs = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10),
    min_size=1,
    max_size=8,
).map("-".join)


@FAST
@given(slugs)
def test_name_property_valid_slugs_never_violate(name):
    violations = check_name(name)
    if len(name) <= rules.MAX_NAME:
        assert violations == []
        assert check_settings(make_settings(name=name))[1] == []
    else:
        assert [v.description for v in violations] == ["must be at most 64 characters"]


@FAST
@given(slugs, st.sampled_from(["-", "_"]))
def test_environment_property_valid_slugs_never_violate(slug, separator):
    slug = slug.replace("-", separator)
    assert (check_environment(slug) == []) == (len(slug) <= rules.MAX_ENVIRONMENT)



@pytest.mark.parametrize(
    ("seconds", "development", "ok"),
    [
        (0, False, True),  # off
        (60, False, True),
        (59, False, False),
        (2, True, True),  # a development server accepts short intervals
        (1, True, False),
        (7 * 86_400, False, True),
        (7 * 86_400 + 1, True, False),
        (-5, True, False),
    ],
)
def test_refresh_interval_bounds(seconds, development, ok):
    found = check_refresh_interval(seconds, development=development)
    assert (found == []) is ok
    assert all(v.field == "sync_options.refresh_interval_seconds" for v in found)


def test_a_key_schema_breaking_two_rules_names_both():
    violations = check_key_schema("x" * 300 + "{{environment}}{{environment}}")
    assert [v.description for v in violations] == [
        f"must be at most {rules.MAX_KEY_SCHEMA} characters",
        "must contain {{secretKey}} exactly once",
        "may contain {{environment}} at most once",
    ]
    assert {v.field for v in violations} == {KEY_SCHEMA}


def test_a_path_breaking_several_rules_names_each():
    _, violations = normalise_secret_path("a/../b c")
    assert [v.description for v in violations] == [
        "must be absolute (start with '/')",
        "must not contain empty, '.' or '..' segments",
        "folder names are 1-64 letters, digits, '_' or '-'",
    ]
