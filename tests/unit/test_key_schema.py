"""Unit tests for domain/key_schema.py: vault names, their validity, and schema matching."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain.key_schema import SchemaMatcher, is_valid_vault_name, vault_name
from domain.rules import check_environment, check_key_schema

# Modest and repeatable: no example database on disk, no flaky deadlines.
FAST = settings(max_examples=200, database=None, deadline=None)

AZURE_NAME_RE = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
CASES = (str, str.lower, str.upper, str.swapcase)


# --- vault_name ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "schema", "environment", "expected"),
    [
        ("API_KEY", "", "dev", "API-KEY"),
        ("API-KEY", "", "dev", "API-KEY"),
        ("A__B_", "", "dev", "A--B-"),
        ("plain", "", "dev", "plain"),
        ("KEY", "{{secretKey}}", "dev", "KEY"),
        ("KEY", "app-{{secretKey}}", "dev", "app-KEY"),
        ("DB_URL", "APP_{{secretKey}}", "dev", "APP-DB-URL"),
        ("KEY", "app-{{environment}}-{{secretKey}}", "prod", "app-prod-KEY"),
        ("KEY", "{{secretKey}}-{{environment}}", "prod", "KEY-prod"),
        ("MY_KEY", "APP_{{environment}}_{{secretKey}}", "prod_eu", "APP-prod-eu-MY-KEY"),
        ("KEY", "app-{{secretKey}}", "ignored_env", "app-KEY"),
    ],
)
def test_vault_name(key, schema, environment, expected):
    assert vault_name(key, schema, environment) == expected


def test_vault_name_keeps_case():
    assert vault_name("MixedCase", "Pre-{{secretKey}}", "dev") == "Pre-MixedCase"


def test_vault_name_with_slash_in_schema_is_not_a_valid_vault_name():
    name = vault_name("KEY", "team/{{secretKey}}", "dev")
    assert name == "team/KEY"
    assert not is_valid_vault_name(name)


# --- is_valid_vault_name ------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["a", "A", "0", "-", "a-b", "ABC-123-def", "a" * 127, "-" * 127, "9" * 127],
)
def test_valid_vault_names(name):
    assert is_valid_vault_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a" * 128,
        "a.b",
        "a/b",
        "a_b",
        "a b",
        " a",
        "a\n",
        "abc\n",
        "\na",
        "é",
        "a\u0660",  # an Arabic-Indic digit is not 0-9
        "a:b",
        "{{secretKey}}",
    ],
)
def test_invalid_vault_names(name):
    assert not is_valid_vault_name(name)


def test_127_is_the_longest_name():
    assert is_valid_vault_name("k" * 127)
    assert not is_valid_vault_name("k" * 128)


@FAST
@given(st.text(alphabet="aZ09-_./ é\n", max_size=130))
def test_is_valid_vault_name_agrees_with_azure_pattern(name):
    assert is_valid_vault_name(name) == (AZURE_NAME_RE.fullmatch(name) is not None)


# --- SchemaMatcher ----------------------------------------------------------------


def test_no_schema_matches_everything():
    matcher = SchemaMatcher("", "dev")
    for name in ("a", "APP-FOO", "x-y-z", "-", "a" * 127):
        assert matcher.matches(name)
        assert matcher.key_part(name) == name


def test_schema_matches_case_insensitively():
    matcher = SchemaMatcher("app-{{secretKey}}", "dev")
    for name in ("app-FOO", "APP-FOO", "App-foo", "aPp-x"):
        assert matcher.matches(name)
    assert matcher.key_part("APP-Foo") == "Foo"


def test_schema_with_underscore_matches_converted_names():
    matcher = SchemaMatcher("APP_{{secretKey}}", "dev")
    assert matcher.matches("app-FOO")
    assert matcher.matches("APP-FOO")
    assert matcher.key_part("app-FOO") == "FOO"
    assert matcher.key_part("APP-MY-KEY") == "MY-KEY"


def test_schema_with_environment():
    matcher = SchemaMatcher("{{environment}}_{{secretKey}}", "prod_eu")
    assert matcher.key_part("prod-eu-DB-URL") == "DB-URL"
    assert matcher.key_part("PROD-EU-x") == "x"
    assert not matcher.matches("dev-x")
    assert not matcher.matches("prod-x")


def test_schema_with_suffix():
    matcher = SchemaMatcher("{{secretKey}}_v1", "dev")
    assert matcher.key_part("A-B-v1") == "A-B"
    assert matcher.key_part("a-V1-V1") == "a-V1"
    assert not matcher.matches("A-B-v2")
    assert not matcher.matches("v1-A")


def test_schema_with_prefix_and_suffix():
    matcher = SchemaMatcher("pre-{{environment}}-{{secretKey}}-post", "dev")
    assert matcher.key_part("pre-dev-K-post") == "K"
    assert matcher.key_part("PRE-DEV-k-k-POST") == "k-k"
    assert not matcher.matches("pre-dev-K")
    assert not matcher.matches("dev-K-post")


@pytest.mark.parametrize(
    "name",
    [
        "",
        "APP",
        "APP-",  # the key part may not be empty
        "APPFOO",
        "XAPP-FOO",
        "FOO",
        "app_FOO",  # not a name the schema produces: '_' became '-'
    ],
)
def test_schema_does_not_match(name):
    matcher = SchemaMatcher("APP_{{secretKey}}", "dev")
    assert not matcher.matches(name)
    assert matcher.key_part(name) is None


def test_schema_text_is_literal_not_a_pattern():
    # '-' and other schema characters are matched literally, not as regex syntax.
    matcher = SchemaMatcher("a-{{secretKey}}", "dev")
    assert not matcher.matches("ab-x")
    assert not matcher.matches("a-")
    assert matcher.matches("a--")


# --- properties -------------------------------------------------------------------

keys = st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True)
schema_pieces = st.text(alphabet="aZ09_-/", max_size=6)
environments = st.from_regex(r"[a-z0-9]{1,6}(?:[-_][a-z0-9]{1,6}){0,2}", fullmatch=True)


@st.composite
def schemas(draw: st.DrawFn) -> str:
    before, after = draw(schema_pieces), draw(schema_pieces)
    schema = before + "{{secretKey}}" + after
    if draw(st.booleans()):
        at = draw(st.sampled_from(["start", "before", "after", "end"]))
        env = "{{environment}}"
        sep = draw(st.sampled_from(["", "-", "_", "/"]))
        schema = {
            "start": env + sep + schema,
            "before": before + sep + env + sep + "{{secretKey}}" + after,
            "after": before + "{{secretKey}}" + sep + env + sep + after,
            "end": schema + sep + env,
        }[at]
    return schema


@FAST
@given(keys, schemas(), environments, st.sampled_from(CASES))
def test_matcher_finds_every_name_the_schema_produces(key, schema, environment, case):
    assume(check_key_schema(schema) == [] and check_environment(environment) == [])
    matcher = SchemaMatcher(schema, environment)
    name = case(vault_name(key, schema, environment))
    assert matcher.matches(name)
    part = matcher.key_part(name)
    assert part is not None
    assert part.lower() == key.replace("_", "-").lower()


@FAST
@given(keys, st.sampled_from(CASES))
def test_without_schema_key_part_is_the_name(key, case):
    name = case(vault_name(key, "", "dev"))
    assert SchemaMatcher("", "dev").key_part(name) == name
    assert name.lower() == key.replace("_", "-").lower()


@FAST
@given(keys, schemas(), environments)
def test_vault_names_have_no_underscore_and_are_valid_when_short(key, schema, environment):
    assume(check_key_schema(schema) == [] and check_environment(environment) == [])
    name = vault_name(key, schema, environment)
    assert "_" not in name
    expected_valid = "/" not in name and len(name) <= 127
    assert is_valid_vault_name(name) == expected_valid


@FAST
@given(schemas(), environments, st.text(alphabet="aAzZ0-_/", max_size=12), st.data())
def test_matcher_agrees_with_prefix_and_suffix_oracle(schema, environment, name, data):
    assume(check_key_schema(schema) == [] and check_environment(environment) == [])
    converted = schema.replace("{{environment}}", environment).replace("_", "-")
    before, _, after = converted.partition("{{secretKey}}")
    if data.draw(st.booleans(), label="wrap in the schema"):
        case = data.draw(st.sampled_from(CASES), label="case")
        name = case(before) + name + case(after)
    lowered = name.lower()
    expected = (
        len(name) > len(before) + len(after)
        and lowered.startswith(before.lower())
        and lowered.endswith(after.lower())
    )
    assert SchemaMatcher(schema, environment).matches(name) == expected
    if expected:
        part = SchemaMatcher(schema, environment).key_part(name)
        assert part == name[len(before) : len(name) - len(after)]
