"""`sync watch`: follow one sync's changes until its job finishes (or Ctrl-C).

The exit status is the outcome of the job the watch stopped on: 0 succeeded, 1 failed,
so `sync watch ... && next-step` works in scripts.
"""

from __future__ import annotations

import argparse
import json
import sys

from hanzo.kms.secretsync.v1 import secret_sync_pb2 as sync_pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as sync_api

from service.cli import lookup
from service.cli.client import Client
from service.cli.errors import EXIT_FAILURE, EXIT_OK
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
    request = sync_api.WatchSecretSyncRequest(id=lookup.sync_id(client, args.project, args.sync))
    stream = client.stream(client.syncs.WatchSecretSync, request)
    try:
        for message in stream:
            _print(args, message)
            if message.deleted:
                # A remove job that deletes its sync succeeded; any other job never will.
                return EXIT_OK if args.job == "remove" else EXIT_FAILURE
            job_status = getattr(message.secret_sync, f"{args.job}_status")
            if job_status in UNTIL[args.until]:
                return EXIT_OK if job_status == sync_pb.JOB_STATUS_SUCCEEDED else EXIT_FAILURE
    finally:
        stream.cancel()  # also on Ctrl-C: the server frees the stream's thread at once
    print("the server ended the stream (it is stopping); watch again", file=sys.stderr)
    return EXIT_FAILURE


def _print(args: argparse.Namespace, message: sync_api.WatchSecretSyncResponse) -> None:
    if args.output == "json":
        print(json.dumps(to_dict(message)), flush=True)  # one object per line
    else:
        print(watch_line(message, args.job), flush=True)
