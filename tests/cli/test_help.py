"""`--help` works on every command and subcommand, found by reading the help itself,
so a command added later is covered without touching this test."""

from __future__ import annotations

import re

import pytest

from service.__main__ import main
from tests.cli.conftest import run_cli

SUBCOMMAND = re.compile(r"^    (\S+)")  # argparse lists subcommands 4 spaces in


def help_of(path: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*path, "--help"])
    assert exited.value.code == 0, path
    text = capsys.readouterr().out
    assert text.startswith("usage: "), path
    return text


def subcommands(text: str) -> list[str]:
    section = text.partition("positional arguments:\n")[2].partition("\n\n")[0]
    return [m.group(1) for line in section.splitlines() if (m := SUBCOMMAND.match(line))]


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[str] = []
    pending: list[list[str]] = [[]]
    while pending:
        path = pending.pop()
        text = help_of(path, capsys)
        seen.append(" ".join(path))
        if path != ["emulator"]:  # the emulator's own help lists flags, not commands
            pending += [[*path, name] for name in subcommands(text)]

    assert {
        "serve",
        "rebuild",
        "emulator",
        "project create",
        "secret set",
        "connection validate",
        "sync create",
        "sync trigger",
        "sync watch",
        "sync remove-secrets",
    } <= set(seen)
    assert len(seen) >= 30


def test_help_in_a_real_process() -> None:
    result = run_cli("127.0.0.1:1", "sync", "watch", "--help")

    assert result.code == 0
    assert "--until {done,succeeded,failed}" in result.out
