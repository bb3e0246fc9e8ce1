"""Page size and next-page token, the same way for every List call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from domain.errors import FieldViolation, InvalidArgument

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 50


def page_size(requested: int, maximum: int) -> int:
    """0 means the default; more than `maximum` is lowered to it; negative is refused."""
    if requested < 0:
        raise InvalidArgument([FieldViolation("page_size", "must not be negative")])
    return min(requested or DEFAULT_PAGE_SIZE, maximum)


def split_page(found: Sequence[T], size: int, cursor: Callable[[T], str]) -> tuple[list[T], str]:
    """`found` was fetched with limit size + 1: the page, and the token for the next one."""
    page = list(found[:size])
    return page, (cursor(page[-1]) if len(found) > size and page else "")
