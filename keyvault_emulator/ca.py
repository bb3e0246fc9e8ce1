"""A throwaway certificate authority and certificates signed by it.

Key Vault clients refuse plain HTTP for bearer tokens, so the emulator speaks TLS. Clients
trust it by pointing `connection_verify=` (or REQUESTS_CA_BUNDLE) at the CA file written
here. The certificates follow the strict X.509 profile newer OpenSSL / Python builds
enforce (key identifiers, critical basic constraints and key usage) so verification works
everywhere.

The tests of the service's own TLS (tests/tls_helpers.py) use the same authority for
server and client certificates (`issue`, `write_pair`), so there is one way to make them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")
VALIDITY = dt.timedelta(days=30)
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH


@dataclass(frozen=True)
class TlsFiles:
    ca_path: Path  # give this to clients
    cert_path: Path
    key_path: Path


@dataclass(frozen=True)
class Authority:
    """A CA: its key signs, its certificate is what peers trust."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def _subject_alt_names(names: Iterable[str]) -> list[x509.GeneralName]:
    result: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):  # ordered, without duplicates
        if "://" in name:
            result.append(x509.UniformResourceIdentifier(name))
            continue
        try:
            result.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            result.append(x509.DNSName(name))
    return result


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def make_authority(common_name: str = "Key Vault emulator test CA") -> Authority:
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))  # tolerate small clock skew
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(key, cert)


def issue(
    authority: Authority,
    common_name: str,
    names: Iterable[str] = (),
    usage: x509.ObjectIdentifier = SERVER_AUTH,
    not_after: dt.datetime | None = None,
) -> Issued:
    """A leaf certificate for `common_name`, with `names` (DNS names, IP addresses, URIs
    with "://") as subject alternative names, valid from an hour ago until `not_after`
    (default: VALIDITY from now; a past time makes an expired certificate)."""
    now = dt.datetime.now(dt.UTC)
    not_after = not_after or now + VALIDITY
    key = ec.generate_private_key(ec.SECP256R1())
    ca_ski = authority.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(authority.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(min(now, not_after) - dt.timedelta(hours=1))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
    )
    alt_names = _subject_alt_names(names)
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    return Issued(key, builder.sign(authority.key, hashes.SHA256()))


def write_pair(issued: Issued, cert_path: Path, key_path: Path) -> None:
    """The certificate (PEM) and its key (PEM, PKCS#8, mode 0600)."""
    cert_path.write_bytes(issued.cert.public_bytes(serialization.Encoding.PEM))
    key_pem = issued.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # The key is throwaway, but still only readable by its owner.
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key_pem)


def make_tls_files(directory: Path, extra_names: Iterable[str] = ()) -> TlsFiles:
    """Write ca.pem, server.pem and server.key into `directory` (created if needed).

    The server certificate covers localhost, 127.0.0.1, ::1 and `extra_names`
    (DNS names, wildcards such as *.vault.azure.net, or IP addresses).
    """
    directory.mkdir(parents=True, exist_ok=True)
    authority = make_authority()
    names = [*DEFAULT_NAMES, *extra_names]
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca_path.write_bytes(authority.pem())
    write_pair(issue(authority, names[0], names), files.cert_path, files.key_path)
    return files


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """A server-side context: TLS 1.2 or newer, HTTP/1.1 only."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.cert_path, files.key_path)
    context.set_alpn_protocols(["http/1.1"])
    return context
