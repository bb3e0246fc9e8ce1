"""The one pair that writes and reads every list's page tokens (service/api/paging.py)."""

from __future__ import annotations

import base64
import json

import pytest

from domain.errors import InvalidArgument
from service.api.paging import page_size, page_token, read_page_token

FILTERS = {"project_id": "p1", "environment": "dev"}


def refused(token: str, listing: str = "secrets", filters=FILTERS, kind: type = str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        read_page_token(token, listing, filters, kind)
    assert [v.field for v in raised.value.violations] == ["page_token"]


def test_a_token_gives_back_its_position_for_the_same_list_and_filters():
    for position in ("KEY_9", 42, ["2026-01-01", "id"]):
        token = page_token("secrets", FILTERS, position)
        assert read_page_token(
            token, "secrets", dict(reversed(FILTERS.items())), type(position)
        ) == (position)


def test_no_token_is_the_first_page():
    assert read_page_token("", "secrets", FILTERS) is None


def test_a_token_of_another_list_or_other_filters_is_refused():
    token = page_token("secrets", FILTERS, "KEY_9")
    refused(token, listing="folders")
    refused(token, filters={**FILTERS, "environment": "prod"})
    refused(token, filters={"project_id": "p1"})


def test_garbled_edited_or_mistyped_tokens_are_refused():
    token = page_token("secrets", FILTERS, "KEY_9")
    for bad in ("KEY_9", token[:-2], "!!!", base64.urlsafe_b64encode(b"[1, 2]").decode()):
        refused(bad)
    raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    for edit in ({"v": 2}, {"f": "0" * 22}, {"l": "folders"}, {"p": None}):
        refused(base64.urlsafe_b64encode(json.dumps({**raw, **edit}).encode()).decode())
    refused(page_token("imports", {}, True), listing="imports", filters={}, kind=int)
    refused(token, kind=int)


def test_page_size_takes_the_lists_default_and_caps_at_its_maximum():
    assert page_size(0, 1000, default=1000) == 1000
    assert page_size(5000, 1000, default=1000) == 1000
    assert page_size(7, 500) == 7
    with pytest.raises(InvalidArgument):
        page_size(-1, 500)
