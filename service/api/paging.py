"""Page size and page tokens, the same way for every List call.

Every list writes and reads its tokens through one pair, `page_token` and
`read_page_token`: a token names the list it belongs to, a digest of the filters it was
made under and the position after which the next page starts. A token that is garbled,
of another list, or used with other filters is INVALID_ARGUMENT naming `page_token`,
never a silently wrong page. Tokens are opaque to clients: what is inside may change
(sealing and binding them to the caller is the next step), so keep every list on this
pair and nothing else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from domain.errors import FieldViolation, InvalidArgument

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 50
VERSION = 1
Position = str | int | list[Any]


def page_size(requested: int, maximum: int, default: int = DEFAULT_PAGE_SIZE) -> int:
    """0 means the default; more than `maximum` is lowered to it; negative is refused."""
    if requested < 0:
        raise InvalidArgument([FieldViolation("page_size", "must not be negative")])
    return min(requested or default, maximum)


def _digest(listing: str, filters: Mapping[str, Any]) -> str:
    canonical = json.dumps([listing, dict(filters)], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:22]


def page_token(listing: str, filters: Mapping[str, Any], position: Position) -> str:
    """The token of the page that starts after `position` of `listing` under `filters`."""
    raw = {"v": VERSION, "l": listing, "f": _digest(listing, filters), "p": position}
    text = json.dumps(raw, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def read_page_token(
    token: str, listing: str, filters: Mapping[str, Any], kind: type = str
) -> Any:
    """The position a token continues after (of type `kind`: the list's own); None for
    no token (the first page)."""
    if not token:
        return None
    refused = InvalidArgument(
        [FieldViolation("page_token", "is not a token from a previous page of this list")]
    )
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        ok = (
            isinstance(raw, dict)
            and raw.get("v") == VERSION
            and raw.get("l") == listing
            and raw.get("f") == _digest(listing, filters)
            and isinstance(raw.get("p"), kind)
            and not isinstance(raw.get("p"), bool)
        )
    except (ValueError, binascii.Error, UnicodeDecodeError):
        ok = False
    if not ok:
        raise refused
    return raw["p"]


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
