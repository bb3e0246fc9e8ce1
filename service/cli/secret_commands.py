"""`secret set` and `secret list`. Values go in through stdin or a hidden prompt and
never come out: the CLI prints keys, versions and comments only."""

from __future__ import annotations

import argparse

from hanzo.kms.secretsync.v1 import secret_source_pb2 as source_pb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as source_api

from service.cli import lookup
from service.cli.client import Client
from service.cli.options import Subcommands, action_parser, add_location, group_parser
from service.cli.output import fields, print_json, print_text, table, timestamp
from service.cli.run import client_command
from service.cli.secret_input import read_secret


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    _, secrets = group_parser(commands, "secret", "set secrets and list their keys")
    set_ = action_parser(
        secrets,
        "set",
        "set a secret; the value is read from stdin, or typed at a prompt that does not "
        "echo (never an argument: arguments end up in shell history)",
        common,
        client_command(secret_set),
    )
    add_location(set_)
    set_.add_argument("key", metavar="KEY", help="letters, digits, _ or -, e.g. DB_PASSWORD")
    set_.add_argument(
        "--value-stdin",
        action="store_true",
        help="read the value from stdin even when it is a terminal (to end of input; "
        "one trailing newline is dropped)",
    )
    set_.add_argument("--comment", default="", help="a comment stored with the secret")
    set_.add_argument("--allow-empty", action="store_true", help="accept an empty value")
    listing = action_parser(
        secrets,
        "list",
        "list the keys of a folder (never values)",
        common,
        client_command(secret_list),
    )
    add_location(listing)


def secret_set(args: argparse.Namespace, client: Client) -> int:
    value = read_secret(f"Value of {args.key}", args.value_stdin, args.allow_empty)
    request = source_api.SetSecretRequest(
        project_id=lookup.project_id(client, args.project),
        environment=args.env,
        path=args.path,
        secret=source_pb.Secret(key=args.key, value=value, comment=args.comment),
    )
    secret = _without_value(client.call(client.sources.SetSecret, request).secret)
    if args.output == "json":
        print_json(secret)
    else:
        print_text(fields([("key", secret.key), ("version", str(secret.version))]))
    return 0


def secret_list(args: argparse.Namespace, client: Client) -> int:
    request = source_api.ListSecretsRequest(
        project_id=lookup.project_id(client, args.project),
        environment=args.env,
        path=args.path,
        include_values=False,
    )
    listed = lookup.every_page(client, client.sources.ListSecrets, request, "secrets")
    secrets = [_without_value(s) for s in listed]
    if args.output == "json":
        print_json({"secrets": secrets})
    else:
        rows = [(s.key, str(s.version), timestamp(s.updated_at), s.comment) for s in secrets]
        print_text(table(("KEY", "VERSION", "UPDATED", "COMMENT"), rows))
    return 0


def _without_value(secret: source_pb.Secret) -> source_pb.Secret:
    """A copy with no value, whatever the server sent: this CLI never prints values."""
    copy = source_pb.Secret()
    copy.CopyFrom(secret)
    copy.ClearField("value")
    return copy
