"""Channels to the Secret Sync service.

Outside development mode the service serves only TLS, optionally mutual TLS (its
docs/tls.md): `secure_channel` makes such a channel, with the bearer token (a service
token or a JWT) sent with every call. `dev_channel` is plaintext, for a development
server on this machine only.

    channel = secure_channel("kms-sync.internal:50051", ca_file="ca.pem",
                             cert_file="client.pem", key_file="client.key")
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import grpc

__all__ = ["dev_channel", "secure_channel"]


def secure_channel(
    target: str,
    *,
    ca_file: str | Path | None = None,
    cert_file: str | Path | None = None,
    key_file: str | Path | None = None,
    token: str | None = None,
) -> grpc.Channel:
    """A TLS channel to `target` (host:port).

    ca_file: the CA certificates (PEM) the server's certificate is checked against;
    default: the system's. cert_file and key_file: this client's certificate and key
    (PEM) for mutual TLS; together or not at all. token: sent as
    `authorization: Bearer <token>` with every call (a token decides over the client
    certificate when both are given).
    """
    if (cert_file is None) != (key_file is None):
        raise ValueError("cert_file and key_file go together (mutual TLS)")
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read(ca_file),
        private_key=_read(key_file),
        certificate_chain=_read(cert_file),
    )
    if token:
        credentials = grpc.composite_channel_credentials(
            credentials, grpc.access_token_call_credentials(token)
        )
    return grpc.secure_channel(target, credentials)


def dev_channel(target: str = "127.0.0.1:50051") -> grpc.Channel:
    """A plaintext channel to a development server on this machine (loopback only: the
    service serves plaintext nowhere else)."""
    host = target.rpartition(":")[0].strip("[]").lower()
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"plaintext only to a loopback address, not {target!r}")
    return grpc.insecure_channel(target)


def _read(path: str | Path | None) -> bytes | None:
    return None if path is None else Path(path).read_bytes()
