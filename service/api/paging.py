"""Page size and next-page token, the same way for every List call.

A page token is opaque: the position after which the next page starts, sealed with
AES-256-GCM under a key derived from the store key (so every replica reads every
replica's tokens, across root-key rotations), and bound, as the cipher's associated
data, to the list, its filter fields and the caller (principal and grants). A token
that was altered, made up, or comes from another list, filter or caller does not open:
INVALID_ARGUMENT naming page_token. Nothing in a token can be read, not even the
position (a hidden item's name must never leave the service).

`encode_page_token` / `decode_page_token` are the one pair every list uses; the key is
the serving server's, set for each call by the call log's interceptor (servers in one
process, as in tests, each have their own store and key).
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.errors import FieldViolation, InvalidArgument
from service.app.access import current_access

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 50
NONCE_BYTES = 12
MAX_TOKEN = 2048
Position = str | int
BAD_TOKEN = "is not a token from a previous page of this list, filter and caller"

# The key of the server serving the current call; a process-random one elsewhere
# (tokens then open only in this process, which is all a caller without a server needs).
_fallback_key = os.urandom(32)
current_key: contextvars.ContextVar[bytes | None] = contextvars.ContextVar(
    "page_token_key", default=None
)


def page_size(requested: int, maximum: int) -> int:
    """0 means the default; more than `maximum` is lowered to it; negative is refused."""
    if requested < 0:
        raise InvalidArgument([FieldViolation("page_size", "must not be negative")])
    return min(requested or DEFAULT_PAGE_SIZE, maximum)


def split_page(found: Sequence[T], size: int, cursor: Callable[[T], str]) -> tuple[list[T], str]:
    """`found` was fetched with limit size + 1: the page, and the token for the next one
    (`cursor` makes it from the page's last item: encode_page_token)."""
    page = list(found[:size])
    return page, (cursor(page[-1]) if len(found) > size and page else "")


def encode_page_token(list_name: str, filter_fields: Sequence[Any], position: Position) -> str:
    """The next page's token: `position` sealed for this list, filter and caller."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(_key()).encrypt(
        nonce, json.dumps(position).encode(), _bound_to(list_name, filter_fields)
    )
    return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def decode_page_token(token: str, list_name: str, filter_fields: Sequence[Any]) -> Position:
    """The position a token of this list, filter and caller holds; INVALID_ARGUMENT
    page_token for anything else."""
    bad = InvalidArgument([FieldViolation("page_token", BAD_TOKEN)])
    if len(token) > MAX_TOKEN:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        if len(raw) <= NONCE_BYTES:
            raise bad
        opened = AESGCM(_key()).decrypt(
            raw[:NONCE_BYTES], raw[NONCE_BYTES:], _bound_to(list_name, filter_fields)
        )
        position = json.loads(opened)
    except (InvalidTag, ValueError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    if type(position) not in (str, int):
        raise bad
    return position


def visible_page(
    fetch: Callable[[Position | None, int], Sequence[T]],
    visible: Callable[[T], bool],
    size: int,
    position: Callable[[T], Position],
    after: Position | None,
) -> tuple[list[T], Position | None]:
    """A page of `size` items the caller may see, and the position to continue after (None
    on the last page), for lists filtered after the store is read (narrowed grants).

    Hidden items are skipped, never counted: the page is filled from further batches,
    and a next page is promised only when a further visible item exists, so neither a
    short page nor an empty last page tells that hidden items were there."""
    page: list[T] = []
    for item in _scan(fetch, position, after, size + 1):
        if not visible(item):
            continue
        if len(page) == size:
            return page, position(page[-1])
        page.append(item)
    return page, None


def _scan(
    fetch: Callable[[Position | None, int], Sequence[T]],
    position: Callable[[T], Position],
    after: Position | None,
    batch: int,
) -> Iterator[T]:
    while True:
        found = fetch(after, batch)
        yield from found
        if len(found) < batch:
            return
        after = position(found[-1])


def _key() -> bytes:
    return current_key.get() or _fallback_key


def _bound_to(list_name: str, filter_fields: Sequence[Any]) -> bytes:
    access = current_access.get()
    caller: list[Any] = ["anonymous"]
    if access is not None:
        grants = sorted(json.dumps(g.to_dict(), sort_keys=True) for g in access.principal.grants)
        caller = [access.principal.name, hashlib.sha256("\n".join(grants).encode()).hexdigest()]
    return json.dumps([list_name, list(filter_fields), caller], default=str).encode()
