"""Unit tests for domain/references.py: which ${...} are references, and to what."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.references import REFERENCE_RE, Reference, parse, references_in

FAST = settings(max_examples=100, database=None, deadline=None)


@pytest.mark.parametrize(
    ("inner", "expected"),
    [
        ("KEY", Reference("", "", "KEY")),
        ("db_password-2", Reference("", "", "db_password-2")),
        ("dev.KEY", Reference("dev", "/", "KEY")),
        ("dev.a.KEY", Reference("dev", "/a", "KEY")),
        ("dev.a.b.KEY", Reference("dev", "/a/b", "KEY")),
        ("prod-eu_1.app_1.db-2.KEY", Reference("prod-eu_1", "/app_1/db-2", "KEY")),
    ],
)
def test_parse_well_formed(inner: str, expected: Reference) -> None:
    assert parse(inner) == expected


def test_local_and_remote() -> None:
    assert parse("KEY").is_local
    assert not parse("dev.KEY").is_local
    assert not parse("dev.a.KEY").is_local


@pytest.mark.parametrize(
    "inner",
    [
        "dev..KEY",  # empty folder name
        "Dev.KEY",  # environments are lowercase
        "KEY.",  # empty key
        ".KEY",  # empty environment
        "dev.a..KEY",
        "dev.a.KEY/x",  # '/' is not allowed in a key
        "dev.a/b.KEY",  # nor in a folder name
        "dev-.KEY",  # environment must not end with a separator
        "dev.a.KE:Y",
        "dev.a.b c.KEY",
        "ke y",
        "x" * 256,  # keys are at most 255 characters
        "dev." + "a" * 65 + ".KEY",  # folder names at most 64
    ],
)
def test_parse_malformed(inner: str) -> None:
    assert parse(inner) is None


@pytest.mark.parametrize(
    "value",
    [
        "${}",
        "${a b}",
        "${dev..KEY}",
        "${Dev.KEY}",
        "${KEY.}",
        "$KEY",
        "{KEY}",
        "${KEY",
        "$ {KEY}",
        "${${KEY}",  # the inner ${KEY} counts, the outer text stays
        "echo ${HOME:-/root}",
        "plain text",
        "",
    ],
)
def test_malformed_references_are_literal_text(value: str) -> None:
    found = references_in(value)
    if value == "${${KEY}":
        assert found == [Reference("", "", "KEY")]
    else:
        assert found == []


def test_several_references_in_order() -> None:
    value = "postgres://${dev.db.USER}:${PASSWORD}@${dev.HOST}:${PORT}/${dev.db.USER} ${bad key}"
    assert references_in(value) == [
        Reference("dev", "/db", "USER"),
        Reference("", "", "PASSWORD"),
        Reference("dev", "/", "HOST"),
        Reference("", "", "PORT"),
        Reference("dev", "/db", "USER"),
    ]


def test_adjacent_references() -> None:
    assert references_in("${A}${B}${dev.C}") == [
        Reference("", "", "A"),
        Reference("", "", "B"),
        Reference("dev", "/", "C"),
    ]


def test_malformed_between_well_formed() -> None:
    assert references_in("${A} ${} ${x.y z} ${Dev.B} ${dev.B}") == [
        Reference("", "", "A"),
        Reference("dev", "/", "B"),
    ]


KEYS = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)
ENVS = st.from_regex(r"[a-z0-9]{1,6}(?:[-_][a-z0-9]{1,4}){0,2}", fullmatch=True)
FOLDERS = st.lists(st.from_regex(r"[A-Za-z0-9_-]{1,8}", fullmatch=True), max_size=3)


@FAST
@given(environment=ENVS, folders=FOLDERS, key=KEYS, local=st.booleans())
def test_every_well_formed_reference_parses(
    environment: str, folders: list[str], key: str, local: bool
) -> None:
    if local:
        text, expected = key, Reference("", "", key)
    else:
        text = ".".join([environment, *folders, key])
        expected = Reference(environment, "/" + "/".join(folders), key)
    assert parse(text) == expected
    assert references_in(f"x ${{{text}}} y") == [expected]


@FAST
@given(st.text())
def test_references_are_those_the_pattern_finds_and_parse(value: str) -> None:
    found = references_in(value)
    expected = [parse(m.group(1)) for m in REFERENCE_RE.finditer(value)]
    assert found == [r for r in expected if r is not None]
    for reference in found:
        assert reference.is_local == (reference.path == "")
        assert reference.is_local or reference.path.startswith("/")
