"""How results are shown: aligned tables and key/value blocks for people, JSON for scripts.

A tiny formatter instead of a table library: the CLI should add no dependency.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

NEVER = "-"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    lines = [list(headers), *([str(cell) for cell in row] for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def fields(pairs: Iterable[tuple[str, str]]) -> str:
    """One "label  value" line per pair, values aligned."""
    pairs = list(pairs)
    width = max((len(label) for label, _ in pairs), default=0)
    return "\n".join(f"{label.ljust(width)}  {value}".rstrip() for label, value in pairs)


def to_dict(message: Message) -> dict[str, Any]:
    """The message as the API names its fields; unset fields are left out."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def print_json(value: Any) -> None:
    """A message, or any JSON value (lists of messages included), on stdout."""
    if isinstance(value, Message):
        value = to_dict(value)
    elif isinstance(value, dict):
        value = {k: _plain(v) for k, v in value.items()}
    print(json.dumps(value, indent=2, sort_keys=False))


def _plain(value: Any) -> Any:
    if isinstance(value, Message):
        return to_dict(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def print_text(text: str) -> None:
    if text:
        print(text)


def timestamp(value: Timestamp) -> str:
    """UTC to the second, or "-" when unset (e.g. a sync that never succeeded)."""
    if not value.seconds and not value.nanos:
        return NEVER
    return value.ToDatetime().strftime("%Y-%m-%d %H:%M:%SZ")


def enum_label(name: str, prefix: str) -> str:
    """JOB_STATUS_SUCCEEDED -> SUCCEEDED; the unset value -> "-"."""
    short = name.removeprefix(prefix)
    return NEVER if short == "UNSPECIFIED" else short


def clip(text: str, width: int = 60) -> str:
    """One line of at most `width` characters, for table cells."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def warn(text: str) -> None:
    print(text, file=sys.stderr)
