"""`audit`: what happened, who did it, when. `audit list` pages through a project's
trail (newest first unless told); `audit follow` streams it live, resuming after a
position, so `audit follow --after N` picks up exactly where an earlier run stopped."""

from __future__ import annotations

import argparse
import json
import sys

import grpc
from hanzo.kms.secretsync.v1 import audit_pb2 as audit_pb
from hanzo.kms.secretsync.v1 import audit_service_pb2 as audit_api
from hanzo.kms.secretsync.v1 import audit_service_pb2_grpc as audit_grpc

from service.cli import lookup
from service.cli.client import Client
from service.cli.errors import EXIT_OK, asks_to_reconnect
from service.cli.options import Subcommands, action_parser, add_project, group_parser
from service.cli.output import clip, print_json, print_text, table, timestamp, to_dict
from service.cli.run import client_command

HEADERS = ("POSITION", "TIME", "EVENT", "RESOURCE", "ACTOR", "SUMMARY")


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    _, actions = group_parser(commands, "audit", "the audit trail: who did what, when")
    listing = action_parser(
        actions,
        "list",
        "a project's audit events, newest first",
        common,
        client_command(audit_list),
    )
    add_project(listing)
    listing.add_argument("--resource", default="", help="only this resource's events (its id)")
    listing.add_argument("--actor", default="", help="only events by this actor")
    listing.add_argument(
        "--event-type",
        action="append",
        default=[],
        help="only these event types, e.g. secret_sync.job_failed (repeatable)",
    )
    listing.add_argument("--oldest-first", action="store_true")
    listing.add_argument("--limit", type=int, default=50, help="events to show (default 50)")
    follow = action_parser(
        actions,
        "follow",
        "stream audit events as they happen (Ctrl-C stops)",
        common,
        client_command(audit_follow),
    )
    add_project(follow, required=False)
    follow.add_argument(
        "--after", type=int, default=0, help="start after this position (0: from the first event)"
    )


def audit_list(args: argparse.Namespace, client: Client) -> int:
    stub = audit_grpc.AuditServiceStub(client.channel)
    order = (
        audit_pb.AUDIT_ORDER_OLDEST_FIRST
        if args.oldest_first
        else audit_pb.AUDIT_ORDER_NEWEST_FIRST
    )
    request = audit_api.ListAuditEventsRequest(
        project_id=lookup.project_id(client, args.project),
        resource_id=args.resource,
        actor=args.actor,
        event_types=args.event_type,
        order=order,
        page_size=min(max(args.limit, 1), 500),
    )
    events: list[audit_pb.AuditEvent] = []
    while len(events) < args.limit:
        page = client.call(stub.ListAuditEvents, request)
        events += page.events
        if not page.next_page_token:
            break
        request.page_token = page.next_page_token
    events = events[: args.limit]
    if args.output == "json":
        print_json([to_dict(e) for e in events])
    else:
        print_text(table(HEADERS, [_row(e) for e in events]))
    return EXIT_OK


def audit_follow(args: argparse.Namespace, client: Client) -> int:
    stub = audit_grpc.AuditServiceStub(client.channel)
    """Reconnects after the last position printed when the server ends the stream at its
    maximum lifetime: positions are in commit order, so nothing is missed or repeated."""
    project = lookup.project_id(client, args.project) if args.project else ""
    request = audit_api.StreamAuditEventsRequest(after_position=args.after, project_id=project)
    while True:
        stream = client.stream(stub.StreamAuditEvents, request)
        try:
            for message in stream:
                if args.output == "json":
                    print(json.dumps(to_dict(message.event)), flush=True)
                else:
                    print("  ".join(_row(message.event)), flush=True)
                request.after_position = message.event.position
        except grpc.RpcError as error:
            if not asks_to_reconnect(error):
                raise
            continue
        finally:
            stream.cancel()
        print("the server ended the stream", file=sys.stderr)
        return EXIT_OK


def _row(event: audit_pb.AuditEvent) -> tuple[str, ...]:
    summary = event.summary
    counts = ", ".join(f"{n} {what}" for what, n in sorted(summary.counts.items()) if n)
    text = summary.message or counts or ", ".join(summary.changed_fields)
    if summary.secret_keys:
        text = (text + " " if text else "") + "keys: " + ", ".join(summary.secret_keys)
    resource = event.resource_name or event.resource_id
    return (
        str(event.position),
        timestamp(event.time),
        event.event_type,
        resource,
        event.actor,
        clip(text),
    )
