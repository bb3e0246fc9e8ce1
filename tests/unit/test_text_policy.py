"""The character policy of display names, descriptions and comments (domain/text_policy.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.rules import check_description
from domain.source_rules import check_comment, check_display_name
from domain.text_policy import check_text, refused_character

FAST = settings(max_examples=200, database=None, deadline=None)


@pytest.mark.parametrize(
    "text",
    [
        "abc\u202egnp.exe",  # right-to-left override
        "a\u2066b\u2069",  # isolates
        "zero\u200bwidth",  # zero-width space
        "join\u200dme",  # zero-width joiner
        "\ufeffbom",  # byte-order mark
        "bell\x07",
        "nul\x00",
        "del\x7f",
        "line\u2028sep",
        "para\u2029sep",
        "private\ue000use",
        "unassigned\U000e0080",
    ],
)
def test_invisible_and_control_characters_are_refused_everywhere(text):
    for check in (check_display_name, check_comment, check_description):
        (violation,) = check(text)
        assert "control, format or invisible" in violation.description
        assert text not in violation.description  # named by code point, never echoed


def test_the_refused_character_is_named_by_its_code_point():
    (violation,) = check_text("abc\u202egnp.exe", "name")
    assert violation.field == "name"
    assert violation.description.endswith("U+202E")


def test_descriptions_and_comments_may_hold_newlines_and_tabs_names_may_not():
    assert check_description("one\n\ttwo") == []
    assert check_comment("one\n\ttwo") == []
    assert check_display_name("one\ttwo") != []


@pytest.mark.parametrize("text", ["Zürich", "東京の鍵", "emoji 🔑", "a-b_c (d)", "Ελληνικά"])
def test_ordinary_text_of_any_script_passes(text):
    assert check_display_name(text) == []
    assert check_comment(text) == []
    assert check_description(text) == []


@FAST
@given(st.text(max_size=40))
def test_property_the_verdict_is_the_first_refused_character(text):
    refused = refused_character(text)
    assert (check_text(text, "f") == []) is (refused is None)
    if refused is not None:
        assert refused in text
