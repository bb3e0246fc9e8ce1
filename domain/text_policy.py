"""Which characters free text may hold: display names, descriptions, comments.

These texts are shown to people (the CLI, consoles, the audit). Characters that are
invisible or change how the text around them is shown are refused, so that a name
cannot pose as another (`abc\u202egnp.exe` shows as `abcexe.png`) and a comment cannot
hide a line: control characters (Cc, but a description or comment may hold newlines
and tabs), format characters (Cf: bidi overrides and isolates, zero-width spaces and
joiners, the byte-order mark), line and paragraph separators (Zl, Zp), surrogates
(Cs), private-use (Co) and unassigned code points (Cn).
"""

from __future__ import annotations

import unicodedata

from domain.errors import FieldViolation

REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
MULTILINE_ALLOWED = frozenset("\n\t")


def refused_character(text: str, *, multiline: bool = False) -> str | None:
    """The first character the policy refuses, or None."""
    for c in text:
        if multiline and c in MULTILINE_ALLOWED:
            continue
        if unicodedata.category(c) in REFUSED_CATEGORIES:
            return c
    return None


def check_text(text: str, field: str, *, multiline: bool = False) -> list[FieldViolation]:
    """The violation for a text holding a refused character (named by code point,
    never echoed: the point is that it does not show)."""
    c = refused_character(text, multiline=multiline)
    if c is None:
        return []
    allowed = " (newlines and tabs are allowed)" if multiline else ""
    return [
        FieldViolation(
            field,
            f"must not contain control, format or invisible characters{allowed}: "
            f"found U+{ord(c):04X}",
        )
    ]
