"""The one pair that writes and reads every list's page tokens (service/api/paging.py)."""

from __future__ import annotations

import base64
import json

import pytest

from domain.errors import InvalidArgument
from domain.permissions import Principal, parse_grants
from service.api.paging import page_size, page_token, read_page_token
from service.app.access import Access, current_access

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
    for bad in ("KEY_9", token[:-2], "!!!", base64.urlsafe_b64encode(b"[1, 2]").decode(),
                "A" * 5000):
        refused(bad)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    for at in (0, 1, 13, len(raw) - 1):  # version, nonce, sealed text, tag
        flipped = raw[:at] + bytes([raw[at] ^ 1]) + raw[at + 1 :]
        refused(base64.urlsafe_b64encode(flipped).decode())
    # The readable tokens of before (version 1) could name a hidden item: refused now.
    readable = {"v": 1, "l": "secrets", "f": "0" * 22, "p": "KEY_9"}
    refused(base64.urlsafe_b64encode(json.dumps(readable).encode()).decode())
    refused(page_token("imports", {}, True), listing="imports", filters={}, kind=int)
    refused(token, kind=int)


def test_a_token_tells_nothing_of_its_position():
    token = page_token("secrets", FILTERS, "HIDDEN_KEY_NAME")
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert b"HIDDEN" not in raw and "HIDDEN" not in token
    assert page_token("secrets", FILTERS, "HIDDEN_KEY_NAME") != token  # a new nonce each time


def test_a_token_is_the_callers_own():
    alice = Principal("alice", parse_grants([{"project": "*", "actions": ["read"]}])[0])
    narrowed = Principal("alice", parse_grants(
        [{"project": "*", "actions": ["read"], "environments": ["dev"]}]
    )[0])
    bob = Principal("bob", alice.grants)
    as_alice = current_access.set(Access(alice, "/m", ("read",)))
    try:
        token = page_token("secrets", FILTERS, "KEY_9")
        assert read_page_token(token, "secrets", FILTERS) == "KEY_9"
    finally:
        current_access.reset(as_alice)
    refused(token)  # without authentication: another caller
    for other in (bob, narrowed):  # another principal; the same with other grants
        as_other = current_access.set(Access(other, "/m", ("read",)))
        try:
            refused(token)
        finally:
            current_access.reset(as_other)


def test_page_size_takes_the_lists_default_and_caps_at_its_maximum():
    assert page_size(0, 1000, default=1000) == 1000
    assert page_size(5000, 1000, default=1000) == 1000
    assert page_size(7, 500) == 7
    with pytest.raises(InvalidArgument):
        page_size(-1, 500)
