"""One connection to the server per command, and the metadata every call carries."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2_grpc as connection_grpc
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as source_grpc
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as sync_grpc

from service.cli.options import DEFAULT_CALL_SECONDS

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

    def metadata(self) -> list[tuple[str, str]]:
        """What every call sends. Issue 6 (tokens) adds the caller's credentials here."""
        if not _is_metadata_safe(self.request_id):
            return []  # the request_id field (if any) carries it; the server rejects it there
        return [("x-request-id", self.request_id)]

    def call(self, method: Callable[..., Response], request: Any) -> Response:
        """A unary call with the command's deadline and metadata."""
        return method(request, timeout=self.timeout, metadata=self.metadata())

    def stream(self, method: Callable[..., Iterator[Response]], request: Any) -> Iterator[Response]:
        """A server stream, without a deadline unless --timeout was given."""
        return method(request, timeout=self.watch_timeout, metadata=self.metadata())

    def close(self) -> None:
        self.channel.close()


def _is_metadata_safe(value: str) -> bool:
    """gRPC refuses, locally, ASCII metadata outside printable ASCII."""
    return value.isascii() and value.isprintable()
