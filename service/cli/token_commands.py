"""`token`: service tokens, the bearer credentials callers send (docs/auth.md).

`token create` prints the token once; nothing can show it again. `token create
--bootstrap` makes an admin token on a fresh install: it writes to the store directly
(SECRET_SYNC_DATABASE_URL or --database-url), with no server and no credential, so it
needs what the server needs to reach its database, and nothing else.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from google.protobuf.duration_pb2 import Duration
from hanzo.kms.secretsync.v1 import token_pb2 as token_pb
from hanzo.kms.secretsync.v1 import token_service_pb2 as token_api

from service.cli import lookup
from service.cli.client import Client
from service.cli.errors import EXIT_USAGE, CliError
from service.cli.options import Subcommands, action_parser, group_parser
from service.cli.output import fields, print_json, print_text, table, timestamp, warn
from service.cli.run import client_command

GRANT_HELP = (
    "PROJECT:ACTIONS[:ENVIRONMENTS[:PATHS]], lists comma-separated; PROJECT is an id, a "
    "slug or '*'; e.g. shop:read,sync-secrets:dev,staging:/app/** (repeatable)"
)
BOOTSTRAP_ACTOR = "bootstrap"


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    _, actions = group_parser(commands, "token", "service tokens (bearer credentials)")
    create = action_parser(
        actions,
        "create",
        "make a service token and print it (once: it cannot be shown again)",
        common,
        token_create,
    )
    create.add_argument("--name", help="unique among live tokens, e.g. ci-deployer")
    create.add_argument("--principal", help="who the token acts as (the actor recorded)")
    create.add_argument("--grant", action="append", default=[], help=GRANT_HELP)
    create.add_argument(
        "--admin", action="store_true", help="grant admin on every project (the '*:admin' grant)"
    )
    create.add_argument("--ttl-days", type=float, default=90.0, help="lifetime (default 90)")
    create.add_argument(
        "--bootstrap",
        action="store_true",
        help="make an admin token by writing to the store directly (a fresh install: no "
        "server or token needed; reads SECRET_SYNC_DATABASE_URL or --database-url)",
    )
    create.add_argument("--database-url", help="with --bootstrap: the store")
    listing = action_parser(
        actions, "list", "list service tokens, never the tokens", common, client_command(token_list)
    )
    listing.add_argument("--all", action="store_true", help="also revoked tokens")
    revoke = action_parser(
        actions, "revoke", "revoke a token (by id or name)", common, client_command(token_revoke)
    )
    revoke.add_argument("token", metavar="TOKEN", help="the token's id or name")


def token_create(args: argparse.Namespace) -> int:
    if args.bootstrap:
        try:
            return bootstrap(args)
        except CliError as error:
            print(f"error: {error}", file=sys.stderr)
            return error.exit_code
    if not args.name or not args.principal:
        print("error: --name and --principal are required (or --bootstrap)", file=sys.stderr)
        return EXIT_USAGE
    return client_command(_create)(args)


def _create(args: argparse.Namespace, client: Client) -> int:
    grants = [parse_grant(client, text) for text in args.grant]
    if args.admin:
        grants.append(token_pb.Grant(project_id="*", actions=["admin"]))
    request = token_api.CreateServiceTokenRequest(
        name=args.name, principal=args.principal, grants=grants, ttl=_ttl(args.ttl_days)
    )
    made = client.call(client.tokens.CreateServiceToken, request)
    show_made(args.output, made.service_token, made.token)
    return 0


def bootstrap(args: argparse.Namespace) -> int:
    """An admin token written straight to the store (for a fresh install)."""
    from dataclasses import replace

    from adapters.envelope import RootKeyError
    from adapters.store_cipher import StoreEncryptionError
    from service.api.token_servicer import token_to_proto
    from service.app.call_context import CallContext, new_request_id
    from service.app.service_tokens import ServiceTokens
    from service.runtime.config import Config
    from service.runtime.store_encryption import event_store_env, refuse_unencrypted

    config = Config.from_env()
    if args.database_url:
        config = replace(config, database_url=args.database_url)
    if args.grant:
        raise CliError("--bootstrap makes an admin token: leave out --grant")
    try:
        tokens = ServiceTokens(env=event_store_env(config))  # needs the root key
        refuse_unencrypted(config, [tokens])
    except (RootKeyError, StoreEncryptionError) as error:
        raise CliError(f"cannot open the store: {error}") from None
    try:
        record, token = tokens.create(
            args.name or "bootstrap-admin",
            args.principal or "admin",
            [{"project": "*", "actions": ["admin"]}],
            timedelta(days=args.ttl_days),
            CallContext(BOOTSTRAP_ACTOR, new_request_id()),
        )
    except Exception as error:
        reason = getattr(error, "violations", None) or error
        raise CliError(f"cannot make the token: {reason}") from None
    finally:
        tokens.close()
    show_made(args.output, token_to_proto(record), token)
    return 0


def show_made(output: str, record: token_pb.ServiceToken, token: str) -> None:
    if output == "json":
        print_json({"service_token": record, "token": token})
    else:
        print_text(
            fields(
                [
                    ("id", record.id),
                    ("name", record.name),
                    ("principal", record.principal),
                    ("expires", timestamp(record.expire_time)),
                    ("token", token),
                ]
            )
        )
    warn("the token is shown this once: keep it now (send it as 'authorization: Bearer ...')")


def token_list(args: argparse.Namespace, client: Client) -> int:
    tokens: list[token_pb.ServiceToken] = []
    page_token = ""
    while True:
        page = client.call(
            client.tokens.ListServiceTokens,
            token_api.ListServiceTokensRequest(
                page_size=lookup.PAGE, page_token=page_token, include_revoked=args.all
            ),
        )
        tokens += page.service_tokens
        page_token = page.next_page_token
        if not page_token:
            break
    if args.output == "json":
        print_json({"service_tokens": tokens})
        return 0
    rows = [
        (
            t.name,
            t.principal,
            " ".join(describe_grant(g) for g in t.grants),
            timestamp(t.expire_time),
            timestamp(t.revoke_time),
            t.id,
        )
        for t in tokens
    ]
    print_text(table(("NAME", "PRINCIPAL", "GRANTS", "EXPIRES", "REVOKED", "ID"), rows))
    return 0


def token_revoke(args: argparse.Namespace, client: Client) -> int:
    token_id = args.token
    if not lookup.is_uuid(token_id):
        listing = client.call(
            client.tokens.ListServiceTokens,
            token_api.ListServiceTokensRequest(page_size=lookup.PAGE),
        )
        found = [t.id for t in listing.service_tokens if t.name == args.token]
        if not found:
            raise CliError(f"no live token named {args.token!r} (see `token list`)")
        token_id = found[0]
    request = token_api.RevokeServiceTokenRequest(id=token_id, request_id=client.request_id)
    revoked = client.call(client.tokens.RevokeServiceToken, request).service_token
    if args.output == "json":
        print_json(revoked)
    else:
        print_text(fields([("id", revoked.id), ("revoked", timestamp(revoked.revoke_time))]))
    return 0


def parse_grant(client: Client, text: str) -> token_pb.Grant:
    parts = text.split(":")
    if not 2 <= len(parts) <= 4 or not parts[0] or not parts[1]:
        raise CliError(f"--grant {text!r}: expected {GRANT_HELP.split(',')[0]}")
    project = parts[0] if parts[0] == "*" else lookup.project_id(client, parts[0])
    lists = [[item for item in part.split(",") if item] for part in parts[1:]]
    lists += [[]] * (3 - len(lists))
    return token_pb.Grant(
        project_id=project, actions=lists[0], environments=lists[1], paths=lists[2]
    )


def describe_grant(grant: token_pb.Grant) -> str:
    text = f"{grant.project_id}:{','.join(grant.actions)}"
    if grant.environments or grant.paths:
        text += ":" + ",".join(grant.environments)
    if grant.paths:
        text += ":" + ",".join(grant.paths)
    return text


def _ttl(days: float) -> Duration:
    duration = Duration()
    duration.FromTimedelta(timedelta(days=days))
    return duration
