"""`sync watch`: follow one sync's changes until its job finishes (or Ctrl-C).

The exit status is the outcome of the job the watch stopped on: 0 succeeded, 1 failed,
so `sync watch ... && next-step` works in scripts.
"""

from __future__ import annotations

import argparse
import json
import sys

import grpc
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as sync_pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as sync_api

from service.cli import lookup
from service.cli.client import Client
from service.cli.errors import EXIT_FAILURE, EXIT_OK, asks_to_reconnect
from service.cli.output import to_dict
from service.cli.sync_display import watch_line

DESCRIPTION = "print a line per change of a sync until its job finishes (or Ctrl-C)"
# Which finished states end the watch.
UNTIL = {
    "done": (sync_pb.JOB_STATUS_SUCCEEDED, sync_pb.JOB_STATUS_FAILED),
    "succeeded": (sync_pb.JOB_STATUS_SUCCEEDED,),
    "failed": (sync_pb.JOB_STATUS_FAILED,),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--until",
        choices=tuple(UNTIL),
        default="done",
        help="stop when the job finishes either way (done, the default), only when it "
        "succeeds, or only when it fails; exit 0 if the job it stopped on succeeded, else 1",
    )
    parser.add_argument(
        "--job",
        choices=("sync", "import", "remove"),
        default="sync",
        help="which job's status to follow (default sync)",
    )


def watch(args: argparse.Namespace, client: Client) -> int:
    """Reconnects when the server ends the stream at its maximum lifetime: the new
    stream starts with the sync's state now, printed unless it is the version already
    printed, so a change made meanwhile is shown once and nothing twice."""
    request = sync_api.WatchSecretSyncRequest(id=lookup.sync_id(client, args.project, args.sync))
    printed = -1  # the last version printed
    while True:
        stream = client.stream(client.syncs.WatchSecretSync, request)
        try:
            for message in stream:
                if message.secret_sync.version == printed and not message.deleted:
                    continue  # the first message of a resumed stream: already shown
                printed = message.secret_sync.version
                _print(args, message)
                outcome = _outcome(args, message)
                if outcome is not None:
                    return outcome
        except grpc.RpcError as error:
            if not asks_to_reconnect(error):
                raise
            continue
        finally:
            stream.cancel()  # also on Ctrl-C: the server frees the stream's thread at once
        print("the server ended the stream (it is stopping); watch again", file=sys.stderr)
        return EXIT_FAILURE


def _outcome(args: argparse.Namespace, message: sync_api.WatchSecretSyncResponse) -> int | None:
    """The exit status if this message ends the watch, else None."""
    if message.deleted:
        # A remove job that deletes its sync succeeded; any other job never will.
        return EXIT_OK if args.job == "remove" else EXIT_FAILURE
    job_status = getattr(message.secret_sync, f"{args.job}_status")
    if job_status in UNTIL[args.until]:
        return EXIT_OK if job_status == sync_pb.JOB_STATUS_SUCCEEDED else EXIT_FAILURE
    return None


def _print(args: argparse.Namespace, message: sync_api.WatchSecretSyncResponse) -> None:
    if args.output == "json":
        print(json.dumps(to_dict(message)), flush=True)  # one object per line
    else:
        print(watch_line(message, args.job), flush=True)
