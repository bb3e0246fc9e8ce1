"""One connection to the server per command, and the metadata every call carries."""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2_grpc as connection_grpc
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as source_grpc
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as sync_grpc
from hanzo.kms.secretsync.v1 import token_service_pb2_grpc as token_grpc

from service.cli.errors import CliError
from service.cli.options import DEFAULT_CALL_SECONDS, TOKEN_ENV

Response = TypeVar("Response")


class Client:
    """Stubs of the three services over one insecure channel (the service has no TLS)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.target: str = args.target
        # Always send an id, so an error can name the server's log lines for this call.
        self.request_id: str = args.request_id or "cli-" + uuid.uuid4().hex
        self.explicit_request_id: str = args.request_id
        self.timeout: float = args.timeout or DEFAULT_CALL_SECONDS
        self.watch_timeout: float | None = args.timeout
        self.channel = grpc.insecure_channel(self.target)
        self.sources = source_grpc.SecretSourceServiceStub(self.channel)
        self.connections = connection_grpc.AzureConnectionServiceStub(self.channel)
        self.syncs = sync_grpc.SecretSyncServiceStub(self.channel)
        self.tokens = token_grpc.TokenServiceStub(self.channel)
        self.credential = _credential(getattr(args, "token_file", ""))

    def metadata(self) -> list[tuple[str, str]]:
        """What every call sends: the request id and the caller's bearer token, if any."""
        sent = [("authorization", f"Bearer {self.credential}")] if self.credential else []
        if not _is_metadata_safe(self.request_id):
            return sent  # the request_id field (if any) carries it; the server rejects it there
        return [("x-request-id", self.request_id), *sent]

    def call(self, method: Callable[..., Response], request: Any) -> Response:
        """A unary call with the command's deadline and metadata."""
        return method(request, timeout=self.timeout, metadata=self.metadata())

    def stream(self, method: Callable[..., Iterator[Response]], request: Any) -> Iterator[Response]:
        """A server stream, without a deadline unless --timeout was given."""
        return method(request, timeout=self.watch_timeout, metadata=self.metadata())

    def close(self) -> None:
        self.channel.close()


def _credential(token_file: str) -> str:
    """The token of --token-file (or SECRET_SYNC_TOKEN_FILE), else of SECRET_SYNC_TOKEN."""
    if token_file:
        try:
            token = Path(token_file).read_text().strip()
        except OSError as error:
            raise CliError(f"cannot read the token file {token_file}: {error.strerror}") from None
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
    if token and not _is_metadata_safe(token):
        raise CliError("the bearer token must be printable ASCII")
    return token


def _is_metadata_safe(value: str) -> bool:
    """gRPC refuses, locally, ASCII metadata outside printable ASCII."""
    return value.isascii() and value.isprintable()
