"""Runs one client command: opens the client, turns failures into messages and exit codes."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable

import grpc

from service.cli.client import Client
from service.cli.errors import EXIT_FAILURE, EXIT_INTERRUPTED, CliError, describe, exit_code
from service.cli.options import Handler

Command = Callable[[argparse.Namespace, Client], int]


def client_command(command: Command) -> Handler:
    """The handler argparse stores for a command that talks to the server."""

    @functools.wraps(command)
    def handler(args: argparse.Namespace) -> int:
        try:
            client = Client(args)
        except CliError as error:  # e.g. an unreadable --token-file
            print(f"error: {error}", file=sys.stderr)
            return error.exit_code
        try:
            return command(args, client)
        except grpc.RpcError as error:
            for line in describe(error, client.request_id):
                print(line, file=sys.stderr)
            return exit_code(error)
        except CliError as error:
            print(f"error: {error}", file=sys.stderr)
            return error.exit_code
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        except BrokenPipeError:
            # The reader went away (`... | head`): stop quietly, and keep Python's exit-time
            # flush of stdout from failing on the closed pipe too.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_FAILURE
        finally:
            client.close()

    return handler
