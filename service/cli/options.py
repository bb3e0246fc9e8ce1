"""Flags every client command takes, and the shapes of the command tree.

Each command group module has `register(commands, common)`: it adds its parser to
`commands` (the subparsers of `python -m service`) with `common` as a parent, so
`--target`, `--request-id`, `--output` and `--timeout` work the same everywhere.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

DEFAULT_TARGET = "127.0.0.1:50051"  # where `make run` listens
TARGET_ENV = "SECRET_SYNC_TARGET"
TOKEN_ENV = "SECRET_SYNC_TOKEN"
TOKEN_FILE_ENV = "SECRET_SYNC_TOKEN_FILE"
TLS_ENV = "SECRET_SYNC_TLS"
CA_FILE_ENV = "SECRET_SYNC_CA_FILE"
CERT_FILE_ENV = "SECRET_SYNC_CERT_FILE"
KEY_FILE_ENV = "SECRET_SYNC_KEY_FILE"
DEFAULT_CALL_SECONDS = 30.0

# The type argparse gives `add_subparsers()`; spelled out for the register() functions.
# argparse has no public name for it.
Subcommands = argparse._SubParsersAction
Handler = Callable[[argparse.Namespace], int]


def common_options() -> argparse.ArgumentParser:
    """The parent parser of every command that talks to a server."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection and output")
    group.add_argument(
        "--target",
        default=os.environ.get(TARGET_ENV, DEFAULT_TARGET),
        help=f"host:port of the server (env {TARGET_ENV}; default {DEFAULT_TARGET})",
    )
    group.add_argument(
        "--token-file",
        default=os.environ.get(TOKEN_FILE_ENV, ""),
        metavar="PATH",
        help=f"a file holding the bearer token (service token or JWT) sent with every call "
        f"(env {TOKEN_FILE_ENV}; or the token itself in env {TOKEN_ENV}; never a flag)",
    )
    add_tls_options(group)
    group.add_argument(
        "--request-id",
        default="",
        help="correlation id recorded with changes and logged by the server "
        "(default: a new one per call, printed on errors)",
    )
    group.add_argument(
        "--output",
        choices=("table", "json"),
        default="table",
        help="table (for people, the default) or json (for scripts)",
    )
    group.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"deadline of each call (default {DEFAULT_CALL_SECONDS:g}; "
        "for `sync watch`: how long to watch, default no limit)",
    )
    return common


def add_tls_options(group: argparse._ArgumentGroup) -> None:
    """How to reach a server that serves TLS (docs/tls.md); none of them: plaintext,
    which a server allows only on loopback in development mode."""
    group.add_argument(
        "--tls",
        action="store_true",
        default=os.environ.get(TLS_ENV, "").lower() in ("1", "true", "yes"),
        help=f"use TLS, trusting the system's CAs (env {TLS_ENV}=1; implied by the flags below)",
    )
    for flag, env, text in (
        ("--ca-file", CA_FILE_ENV, "CA certificates (PEM) the server's certificate is checked "
         "against, instead of the system's"),
        ("--cert-file", CERT_FILE_ENV, "this client's certificate (PEM) for mutual TLS"),
        ("--key-file", KEY_FILE_ENV, "its private key (PEM)"),
    ):  # fmt: skip
        group.add_argument(
            flag, default=os.environ.get(env, ""), metavar="PATH", help=f"{text} (env {env})"
        )


def group_parser(
    commands: Subcommands, name: str, text: str, **kwargs: Any
) -> tuple[argparse.ArgumentParser, Subcommands]:
    """A command group (`sync`, `project`, ...) whose actions are required subcommands."""
    parser = commands.add_parser(name, help=text, description=text, **kwargs)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    return parser, actions


def action_parser(
    actions: Subcommands,
    name: str,
    text: str,
    common: argparse.ArgumentParser,
    handler: Handler,
) -> argparse.ArgumentParser:
    """One action of a group, with the common flags and its handler."""
    parser = actions.add_parser(name, help=text, description=text, parents=[common])
    parser.set_defaults(cli_handler=handler)
    return parser


def add_project(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument(
        "--project",
        required=required,
        help="the project: its id or its slug",
    )


def add_location(parser: argparse.ArgumentParser, path_required: bool = True) -> None:
    """--project, --env and --path: a folder of the secret source."""
    add_project(parser)
    parser.add_argument("--env", required=True, help="the environment's slug, e.g. dev")
    parser.add_argument("--path", required=path_required, default="/", help="the folder, e.g. /app")
