"""One connection to the server per command, and the metadata every call carries."""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import grpc
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2_grpc as connection_grpc
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as source_grpc
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as sync_grpc
from hanzo.kms.secretsync.v1 import token_service_pb2_grpc as token_grpc

from service.cli.errors import CliError
from service.cli.options import DEFAULT_CALL_SECONDS, TOKEN_ENV

Response = TypeVar("Response", covariant=True)


class Client:
    """Stubs of the services over one channel: TLS (docs/tls.md) when asked for, else
    plaintext, which a server allows only on loopback in development mode."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.target: str = args.target
        # Always send an id, so an error can name the server's log lines for this call.
        self.request_id: str = args.request_id or "cli-" + uuid.uuid4().hex
        self.explicit_request_id: str = args.request_id
        self.timeout: float = args.timeout or DEFAULT_CALL_SECONDS
        self.watch_timeout: float | None = args.timeout
        self.channel = _channel(self.target, args)
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

    def stream(self, method: Callable[..., Any], request: Any) -> ServerStream[Any]:
        """A server stream, without a deadline unless --timeout was given."""
        return method(request, timeout=self.watch_timeout, metadata=self.metadata())

    def close(self) -> None:
        self.channel.close()


class ServerStream(Protocol[Response]):
    """What gRPC returns for a server stream: the messages, and a way to end it early."""

    def __iter__(self) -> Iterator[Response]: ...

    def cancel(self) -> bool: ...


def _channel(target: str, args: argparse.Namespace) -> grpc.Channel:
    """A TLS channel with --tls, --ca-file or a client certificate; else plaintext."""
    ca_file = getattr(args, "ca_file", "")
    cert_file = getattr(args, "cert_file", "")
    key_file = getattr(args, "key_file", "")
    if not (getattr(args, "tls", False) or ca_file or cert_file or key_file):
        return grpc.insecure_channel(target)
    if bool(cert_file) != bool(key_file):
        raise CliError("--cert-file and --key-file go together (mutual TLS)")
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read_pem(ca_file, "--ca-file") if ca_file else None,
        private_key=_read_pem(key_file, "--key-file") if key_file else None,
        certificate_chain=_read_pem(cert_file, "--cert-file") if cert_file else None,
    )
    return grpc.secure_channel(target, credentials)


def _read_pem(path: str, flag: str) -> bytes:
    """A PEM file's bytes; errors name the file, never its content."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise CliError(f"cannot read the {flag} file {path}: {error.strerror}") from None
    if b"-----BEGIN " not in data:
        raise CliError(f"the {flag} file {path} is not PEM")
    return data


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
