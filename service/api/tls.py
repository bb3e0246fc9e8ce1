"""Transport security of the gRPC server (docs/tls.md): TLS from PEM files, mutual TLS,
client certificates mapped to principals, and every file re-read when it changes.

gRPC asks `TlsFiles.fetch` for the certificate configuration before each new
connection's handshake. It looks at the files' mtimes at most once every CHECK_SECONDS
and, when one changed, reads and checks them all again: a good set replaces the served
one (new connections get it, open ones keep theirs), a bad one is logged (the file and
what is wrong with it, never its content) and the last good set stays. The principals
file is re-read the same way, also when a call looks a certificate up.

Plaintext is for a developer's own machine only: development mode and a loopback
listen address (`check_plaintext`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from domain.errors import Unauthenticated
from domain.permissions import Principal, check_principal, parse_grants
from domain.rules import is_loopback as is_loopback_host
from service.runtime.config import Config, ConfigError
from service.runtime.metrics import TLS_CERTIFICATE_EXPIRY

log = logging.getLogger("secretsync.tls")
REQUIRE, OPTIONAL = "require", "optional"
CHECK_SECONDS = 1.0  # how often, at most, the files' mtimes are looked at
MAX_FILE_BYTES = 1024 * 1024
MAX_IDENTITY = 1024
CERTIFICATE_UNKNOWN = "CERTIFICATE_UNKNOWN"


def unknown_certificate() -> Unauthenticated:
    """A new error each time (see service_tokens.invalid)."""
    return Unauthenticated(
        "the client certificate is not mapped to a principal", CERTIFICATE_UNKNOWN
    )


AuthContext = Mapping[str, Sequence[bytes]]


class TlsConfigError(ConfigError):
    """The TLS settings or files cannot be used. The message names files and what is
    wrong, never their content."""


@dataclass(frozen=True)
class TlsSettings:
    cert_file: str
    key_file: str
    client_ca_file: str = ""
    client_auth: str = ""  # REQUIRE or OPTIONAL; "" when there is no client CA
    principals_file: str = ""

    @property
    def requires_client_certificate(self) -> bool:
        return self.client_auth == REQUIRE

    def files(self) -> tuple[str, ...]:
        found = (self.cert_file, self.key_file, self.client_ca_file, self.principals_file)
        return tuple(f for f in found if f)


def tls_settings(config: Config) -> TlsSettings | None:
    """The configured TLS, checked for consistency; None when none is configured."""
    given = (
        config.tls_cert_file,
        config.tls_key_file,
        config.tls_client_ca_file,
        config.tls_client_principals_file,
    )
    if not any(given):
        if config.tls_client_auth:
            raise TlsConfigError("SECRET_SYNC_TLS_CLIENT_AUTH needs SECRET_SYNC_TLS_CLIENT_CA_FILE")
        return None
    if not (config.tls_cert_file and config.tls_key_file):
        raise TlsConfigError(
            "TLS needs both SECRET_SYNC_TLS_CERT_FILE and SECRET_SYNC_TLS_KEY_FILE"
        )
    return TlsSettings(
        config.tls_cert_file,
        config.tls_key_file,
        config.tls_client_ca_file,
        _client_auth(config),
        config.tls_client_principals_file,
    )


def _client_auth(config: Config) -> str:
    mode = config.tls_client_auth.strip().lower()
    if not config.tls_client_ca_file:
        if mode or config.tls_client_principals_file:
            raise TlsConfigError(
                "SECRET_SYNC_TLS_CLIENT_AUTH and SECRET_SYNC_TLS_CLIENT_PRINCIPALS_FILE "
                "need SECRET_SYNC_TLS_CLIENT_CA_FILE"
            )
        return ""
    mode = mode or REQUIRE
    if mode not in (REQUIRE, OPTIONAL):
        raise TlsConfigError(
            f"SECRET_SYNC_TLS_CLIENT_AUTH must be 'require' or 'optional', not {mode[:32]!r}"
        )
    if mode == OPTIONAL and config.tls_client_principals_file:
        # grpcio cannot ask for a certificate without requiring it: with `optional` it asks
        # for none, so a principals file would silently never apply.
        raise TlsConfigError(
            "SECRET_SYNC_TLS_CLIENT_PRINCIPALS_FILE needs SECRET_SYNC_TLS_CLIENT_AUTH=require: "
            "with 'optional' clients are not asked for a certificate (docs/tls.md)"
        )
    return mode


# --- plaintext --------------------------------------------------------------------------


def listen_host(listen: str) -> str:
    """The host part of a host:port listen address ("[::1]:50051" -> "::1")."""
    host = listen.rpartition(":")[0] if ":" in listen else listen
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def is_loopback(listen: str) -> bool:
    """127.0.0.0/8, ::1 or localhost; never an empty host or 0.0.0.0 (every interface)."""
    return is_loopback_host(listen_host(listen).lower())


def check_plaintext(config: Config) -> None:
    """Refuse plaintext unless in development mode on a loopback address."""
    if config.dev_mode and is_loopback(config.listen):
        return
    where = "outside development mode" if not config.dev_mode else f"on {config.listen}"
    raise TlsConfigError(
        f"refusing to serve plaintext gRPC {where}: plaintext is allowed only in development "
        "mode on a loopback address (127.0.0.1, ::1, localhost). Set SECRET_SYNC_TLS_CERT_FILE "
        "and SECRET_SYNC_TLS_KEY_FILE (docs/tls.md)"
    )


# --- the files --------------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    """One consistent set of what the files hold, checked."""

    certificate: grpc.ServerCertificateConfiguration
    principals: Mapping[str, Principal]
    description: str  # the server certificate's subject and expiry, for the log
    expires_at: float  # the server certificate's notAfter, Unix time


def load(settings: TlsSettings) -> Loaded:
    """Read and check every file; TlsConfigError names the first problem."""
    chain_pem = _read(settings.cert_file)
    key_pem = _read(settings.key_file)
    chain = _certificates(settings.cert_file, chain_pem)
    _check_key(settings.key_file, key_pem, chain[0])
    client_ca = None
    if settings.client_ca_file:
        client_ca = _read(settings.client_ca_file)
        _certificates(settings.client_ca_file, client_ca)
    principals: Mapping[str, Principal] = {}
    if settings.principals_file:
        principals = parse_principals(settings.principals_file, _read(settings.principals_file))
    certificate = grpc.ssl_server_certificate_configuration(
        [(key_pem, chain_pem)], root_certificates=client_ca
    )
    expires_at = chain[0].not_valid_after_utc.timestamp()
    return Loaded(certificate, principals, describe(chain[0]), expires_at)


def describe(certificate: x509.Certificate) -> str:
    """Subject and expiry: what an operator checks after replacing a certificate."""
    until = certificate.not_valid_after_utc.isoformat(timespec="seconds")
    return f"{certificate.subject.rfc4514_string()}, valid until {until}"


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise TlsConfigError(f"{path}: cannot read it ({error.strerror})") from None
    if len(data) > MAX_FILE_BYTES:
        raise TlsConfigError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    return data


def _certificates(path: str, pem: bytes) -> list[x509.Certificate]:
    try:
        found = x509.load_pem_x509_certificates(pem)
    except ValueError:
        found = []
    if not found:
        raise TlsConfigError(f"{path}: holds no PEM certificate")
    return found


def _check_key(path: str, pem: bytes, leaf: x509.Certificate) -> None:
    """The key must be a PEM private key of the certificate (a half-replaced pair fails)."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):  # their messages are not logged: they might quote input
        raise TlsConfigError(f"{path}: not an unencrypted PEM private key") from None
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    ours = key.public_key().public_bytes(serialization.Encoding.DER, spki)
    theirs = leaf.public_key().public_bytes(serialization.Encoding.DER, spki)
    if ours != theirs:
        raise TlsConfigError(f"{path}: the key does not belong to the server certificate")


def parse_principals(path: str, data: bytes) -> dict[str, Principal]:
    """{identity: {"principal": name, "grants": [JWT kms_grants shape]}}, checked as a
    JWT's claims are (adapters/jwt_verifier.py)."""
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise TlsConfigError(f"{path}: not JSON") from None
    if not isinstance(raw, dict):
        raise TlsConfigError(f"{path}: must be an object of identity -> principal")
    return {_identity(path, k): _principal(path, k, v) for k, v in raw.items()}


def _identity(path: str, identity: str) -> str:
    if not identity or len(identity) > MAX_IDENTITY or not identity.isprintable():
        raise TlsConfigError(f"{path}: identities must be 1-{MAX_IDENTITY} printable characters")
    return identity


def _principal(path: str, identity: str, entry: Any) -> Principal:
    where = f"{path}: {identity[:128]!r}"
    if not isinstance(entry, dict) or not isinstance(entry.get("principal"), str):
        raise TlsConfigError(f'{where}: must be {{"principal": ..., "grants": [...]}}')
    name = entry["principal"]
    problems = check_principal(name)
    grants, violations = parse_grants(entry.get("grants", []), "grants")
    problems += violations
    if problems:
        first = problems[0]
        raise TlsConfigError(f"{where}: {first.field} {first.description}")
    return Principal(name, grants)


# --- served and reloaded ----------------------------------------------------------------


def certificate_identities(auth_context: AuthContext) -> tuple[str, ...]:
    """Who a verified client certificate names: its URI and DNS subject alternative
    names, in that order; its common name only when it has neither."""
    if auth_context.get("transport_security_type") != [b"ssl"]:
        return ()
    sans = [*auth_context.get("peer_uri", ()), *auth_context.get("peer_dns", ())]
    names = sans or list(auth_context.get("x509_common_name", ()))[:1]
    return tuple(n.decode("utf-8", "replace") for n in names)


class TlsFiles:
    """The served TLS configuration, kept in step with the files."""

    def __init__(self, settings: TlsSettings, clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()  # before reading: a change while reading shows
        self.loaded = load(settings)  # bad files at start: the server refuses to start
        TLS_CERTIFICATE_EXPIRY.set(self.loaded.expires_at)
        self._checked_at = clock()
        self._generation = 0  # counts reloads
        self._served = 0  # the generation gRPC was last handed

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(
            self.loaded.certificate,
            self.fetch,
            require_client_authentication=self.settings.requires_client_certificate,
        )

    def client_certificates(self) -> str:
        """What clients are asked for, for the start-up log."""
        if self.settings.requires_client_certificate:
            return "client certificates required (mutual TLS)"
        if self.settings.client_auth == OPTIONAL:
            return "client certificates not asked for (optional: bearer tokens only)"
        return "no client certificates"

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """gRPC's fetcher: a new configuration once after the files changed, else None."""
        try:
            self.refresh()
            with self._lock:
                if self._served == self._generation:
                    return None
                self._served = self._generation
                return self.loaded.certificate
        except Exception as error:  # never let a reload failure break the handshake
            log.error("TLS reload failed: %s", type(error).__name__)
            return None

    def principal_of(self, auth_context: AuthContext) -> Principal | None:
        """The principal a verified client certificate maps to; None without one;
        CERTIFICATE_UNKNOWN when its identity is not in the principals file."""
        if not self.settings.requires_client_certificate:
            return None  # only `require` makes gRPC verify what a client presents
        identities = certificate_identities(auth_context)
        if not identities:
            return None
        self.refresh()
        principals = self.loaded.principals
        for identity in identities:
            if identity in principals:
                return principals[identity]
        raise unknown_certificate()

    def refresh(self) -> None:
        """Reload when a file changed; at most one look every CHECK_SECONDS."""
        now = self.clock()
        with self._lock:
            if now - self._checked_at < CHECK_SECONDS:
                return
            self._checked_at = now
            stamp = self._file_stamp()
            if stamp == self._stamp:
                return
            self._stamp = stamp  # a bad set is reported once, not on every connection
            try:
                self.loaded = load(self.settings)
            except TlsConfigError as error:
                log.error(
                    "TLS files changed but cannot be used, keeping the previous ones: %s", error
                )
                return
            self._generation += 1
            TLS_CERTIFICATE_EXPIRY.set(self.loaded.expires_at)
        log.info("TLS files reloaded: server certificate %s", self.loaded.description)

    def _file_stamp(self) -> tuple[Any, ...]:
        return tuple(_stat(path) for path in self.settings.files())


def _stat(path: str) -> tuple[int, int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size, status.st_ino


def server_tls(config: Config) -> TlsFiles | None:
    """The server's TLS, its files read and checked; None for plaintext, which only
    development mode on loopback may use (TlsConfigError otherwise)."""
    settings = tls_settings(config)
    if settings is None:
        check_plaintext(config)
        return None
    return TlsFiles(settings)
