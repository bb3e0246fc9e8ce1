"""Test certificates for the service's TLS: a CA, server and client certificates, and
channels that trust the CA (made with the emulator's CA code, keyvault_emulator/ca.py).

A server outside development mode must serve TLS (service/api/tls.py), so tests that need one
take its files from `shared_pki().server_config()` and reach it with `admin_channel`
(tests/conftest.py), which trusts this CA.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from cryptography.hazmat.primitives import serialization

from keyvault_emulator.ca import (
    CLIENT_AUTH,
    DEFAULT_NAMES,
    Authority,
    Issued,
    issue,
    make_authority,
    write_pair,
)


@dataclass(frozen=True)
class ClientCert:
    """A client certificate and key, as PEM, and where they were written."""

    cert_pem: bytes
    key_pem: bytes
    cert_path: Path
    key_path: Path


@dataclass(frozen=True)
class Pki:
    directory: Path
    authority: Authority

    @property
    def ca_path(self) -> Path:
        return self.directory / "ca.pem"

    def server_files(self, name: str = "server") -> tuple[Path, Path]:
        """A server certificate for localhost, 127.0.0.1 and ::1: (cert path, key path)."""
        cert, key = self.directory / f"{name}.pem", self.directory / f"{name}.key"
        write_pair(issue(self.authority, "localhost", DEFAULT_NAMES), cert, key)
        return cert, key

    def server_config(self, name: str = "server") -> dict[str, str]:
        """Config fields of a TLS server with a new certificate of this CA."""
        cert, key = self.server_files(name)
        return {"tls_cert_file": str(cert), "tls_key_file": str(key)}

    def client(
        self, common_name: str, names: tuple[str, ...] = (), expired: bool = False
    ) -> ClientCert:
        """A client certificate (SANs: `names`, URIs with "://"); `expired`: its
        notAfter a day in the past."""
        past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        issued = issue(
            self.authority, common_name, names, CLIENT_AUTH, not_after=past if expired else None
        )
        stem = self.directory / f"client-{uuid.uuid4().hex[:8]}"
        cert_path, key_path = stem.with_suffix(".pem"), stem.with_suffix(".key")
        write_pair(issued, cert_path, key_path)
        return ClientCert(_cert_pem(issued), key_path.read_bytes(), cert_path, key_path)

    def credentials(self, client: ClientCert | None = None) -> grpc.ChannelCredentials:
        """Channel credentials trusting this CA, presenting `client` if given."""
        if client is None:
            return grpc.ssl_channel_credentials(self.authority.pem())
        return grpc.ssl_channel_credentials(
            self.authority.pem(), private_key=client.key_pem, certificate_chain=client.cert_pem
        )

    def channel(self, port: int, client: ClientCert | None = None) -> grpc.Channel:
        return grpc.secure_channel(f"127.0.0.1:{port}", self.credentials(client))


def _cert_pem(issued: Issued) -> bytes:
    return issued.cert.public_bytes(serialization.Encoding.PEM)


def make_pki(directory: Path, name: str = "Secret Sync test CA") -> Pki:
    """A new CA whose certificate is written to directory/ca.pem."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(directory, make_authority(name))
    pki.ca_path.write_bytes(pki.authority.pem())
    return pki


_shared: list[Pki] = []


def shared_pki() -> Pki:
    """One CA for this test process (for servers that need TLS but test something else)."""
    if not _shared:
        _shared.append(make_pki(Path(tempfile.mkdtemp(prefix="secret-sync-pki-"))))
    return _shared[0]


def write_principals(path: Path, entries: dict[str, dict[str, Any]]) -> Path:
    """The principals file: identity -> {"principal": ..., "grants": [...]}."""
    path.write_text(json.dumps(entries))
    return path
