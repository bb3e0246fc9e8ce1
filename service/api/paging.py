"""Page size and page tokens, the same way for every List call.

Every list writes and reads its tokens through one pair, `page_token` and
`read_page_token`: a token holds the position after which the next page starts, sealed
with AES-256-GCM under a key derived from the store key (so every replica reads every
replica's tokens, across root-key rotations), and bound, as the cipher's associated
data, to the list, its filters and the caller (principal and grants). A token that was
altered, made up, or comes from another list, filter or caller does not open:
INVALID_ARGUMENT naming page_token, never a silently wrong page. Nothing in a token
can be read, not even the position (a hidden item's name must never leave the service).

The key is the serving server's, set for each call by the call log's interceptor
(servers in one process, as in tests, each have their own store and key); outside a
call, a process-random one.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.errors import FieldViolation, InvalidArgument
from service.app.access import current_access

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 50
VERSION = 2  # 1: readable base64 JSON (refused now: it could name a hidden item)
NONCE_BYTES = 12
MAX_TOKEN = 4096
Position = str | int | list[Any]
BAD_TOKEN = "is not a token from a previous page of this list (same filters and caller)"

_fallback_key = os.urandom(32)
current_key: contextvars.ContextVar[bytes | None] = contextvars.ContextVar(
    "page_token_key", default=None
)


def page_size(requested: int, maximum: int, default: int = DEFAULT_PAGE_SIZE) -> int:
    """0 means the default; more than `maximum` is lowered to it; negative is refused."""
    if requested < 0:
        raise InvalidArgument([FieldViolation("page_size", "must not be negative")])
    return min(requested or default, maximum)


def page_token(listing: str, filters: Mapping[str, Any], position: Position) -> str:
    """The token of the page that starts after `position` of `listing` under `filters`."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(_key()).encrypt(
        nonce, json.dumps(position).encode(), _bound_to(listing, filters)
    )
    return base64.urlsafe_b64encode(bytes([VERSION]) + nonce + sealed).decode().rstrip("=")


def read_page_token(
    token: str, listing: str, filters: Mapping[str, Any], kind: type = str
) -> Any:
    """The position a token continues after (of type `kind`: the list's own); None for
    no token (the first page)."""
    if not token:
        return None
    refused = InvalidArgument([FieldViolation("page_token", BAD_TOKEN)])
    if len(token) > MAX_TOKEN:
        raise refused
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        if len(raw) <= 1 + NONCE_BYTES or raw[0] != VERSION:
            raise refused
        nonce, sealed = raw[1 : 1 + NONCE_BYTES], raw[1 + NONCE_BYTES :]
        position = json.loads(AESGCM(_key()).decrypt(nonce, sealed, _bound_to(listing, filters)))
    except (InvalidTag, ValueError, binascii.Error, UnicodeDecodeError):
        raise refused from None
    if not isinstance(position, kind) or isinstance(position, bool):
        raise refused
    return position


def split_page(
    found: Sequence[T],
    size: int,
    listing: str,
    filters: Mapping[str, Any],
    position: Callable[[T], Position],
) -> tuple[list[T], str]:
    """`found` was fetched with limit size + 1: the page, and the token for the next one."""
    page = list(found[:size])
    more = len(found) > size and page
    return page, (page_token(listing, filters, position(page[-1])) if more else "")


def visible_page(
    fetch: Callable[[Any, int], Sequence[T]],
    visible: Callable[[T], bool],
    size: int,
    position: Callable[[T], Position],
    after: Any,
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
    fetch: Callable[[Any, int], Sequence[T]],
    position: Callable[[T], Position],
    after: Any,
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


def _bound_to(listing: str, filters: Mapping[str, Any]) -> bytes:
    access = current_access.get()
    caller: list[Any] = ["anonymous"]
    if access is not None:
        grants = sorted(json.dumps(g.to_dict(), sort_keys=True) for g in access.principal.grants)
        caller = [access.principal.name, hashlib.sha256("\n".join(grants).encode()).hexdigest()]
    bound = [listing, dict(filters), caller]
    return json.dumps(bound, sort_keys=True, separators=(",", ":"), default=str).encode()
