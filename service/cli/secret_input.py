"""Secret values come from stdin or a prompt that does not echo, never from argv:
arguments land in shell history and are visible to every user in `ps`."""

from __future__ import annotations

import getpass
import sys
from typing import TextIO

from service.cli.errors import CliError


def read_secret(
    what: str, from_stdin: bool, allow_empty: bool = False, stdin: TextIO | None = None
) -> str:
    """The value typed at a prompt (when stdin is a terminal and `from_stdin` is not set)
    or read from stdin to its end, without one trailing newline (what `echo` adds)."""
    stream = stdin or sys.stdin
    if not from_stdin and stream.isatty():
        value = getpass.getpass(f"{what} (input hidden): ")
    else:
        value = stream.read()
        value = value.removesuffix("\n").removesuffix("\r")
    if not value and not allow_empty:
        raise CliError(f"no {what.lower()} read (stdin was empty)")
    return value
