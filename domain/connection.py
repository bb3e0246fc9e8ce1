"""An Azure connection: how the service obtains tokens for Key Vault.

The aggregate keeps only what may be shown (cloud, auth method, tenant and client
ids) in the clear; the credentials themselves arrive already sealed by the root
key (the service seals them, the domain never sees key material).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.errors import AlreadyExists, FieldViolation, NotFound
from domain.rules import check_uuid

MAX_SECRET = 1024
MAX_PEM = 16 * 1024
PEM_RE = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n[A-Za-z0-9+/=\r\n:,\- ]+?-----END \1-----", re.S
)


class AuthMethod(StrEnum):
    CLIENT_SECRET = "client_secret"
    CERTIFICATE = "certificate"
    MANAGED_IDENTITY = "managed_identity"


@dataclass(frozen=True)
class Cloud:
    name: str
    authority_host: str  # Entra ID's sign-in host
    vault_suffix: str  # Key Vault's DNS suffix


CLOUDS = {
    "public": Cloud("public", "login.microsoftonline.com", "vault.azure.net"),
    "china": Cloud("china", "login.chinacloudapi.cn", "vault.azure.cn"),
    "us_government": Cloud("us_government", "login.microsoftonline.us", "vault.usgovcloudapi.net"),
}


def connection_names(project_id: str) -> str:
    """The NameClaim scope of a project's connection names."""
    return f"connections:{project_id}"


# --- rules ------------------------------------------------------------------------


def check_cloud(cloud: str) -> list[FieldViolation]:
    if cloud not in CLOUDS:
        return [FieldViolation("cloud", "is required: public, China or US Government")]
    return []


def check_secret(field: str, secret: str) -> list[FieldViolation]:
    if not secret:
        return [FieldViolation(field, "is required")]
    found = []
    if len(secret) > MAX_SECRET:
        found.append(FieldViolation(field, f"must be at most {MAX_SECRET} characters"))
    if any(ord(c) < 32 or ord(c) == 127 for c in secret):
        found.append(FieldViolation(field, "must not contain control characters"))
    return found


def check_pem(field: str, text: str, kind: str) -> list[FieldViolation]:
    """`kind` "CERTIFICATE" or "PRIVATE KEY" (any "... PRIVATE KEY" label matches)."""
    if not text:
        return [FieldViolation(field, "is required")]
    if len(text) > MAX_PEM:
        return [FieldViolation(field, f"must be at most {MAX_PEM} characters")]
    labels = [m.group(1) for m in PEM_RE.finditer(text)]
    if not any(label == kind or label.endswith(" " + kind) for label in labels):
        return [FieldViolation(field, f"must be a PEM block '-----BEGIN {kind}-----'")]
    if kind == "PRIVATE KEY" and any("ENCRYPTED" in label for label in labels):
        return [FieldViolation(field, "must be an unencrypted private key")]
    return []


def check_authority_host(field: str, url: str, *, dev_mode: bool) -> list[FieldViolation]:
    """An authority override: development mode only, https://host[:port] and nothing more."""
    if not url:
        return []
    if not dev_mode:
        return [FieldViolation(field, "is allowed only in development mode")]
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return [FieldViolation(field, "must be a URL like https://host:port")]
    found = []
    if parts.scheme != "https" or not parts.hostname:
        found.append(FieldViolation(field, "must be an https URL"))
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        found.append(FieldViolation(field, "must have no path, query, fragment or user info"))
    return found


def check_client_secret_auth(
    tenant_id: str, client_id: str, secret: str, authority_host: str, *, dev_mode: bool
) -> list[FieldViolation]:
    prefix = "client_secret_auth."
    return (
        check_uuid(prefix + "tenant_id", tenant_id)
        + check_uuid(prefix + "client_id", client_id)
        + check_secret(prefix + "client_secret", secret)
        + check_authority_host(prefix + "authority_host", authority_host, dev_mode=dev_mode)
    )


def check_certificate_auth(
    tenant_id: str, client_id: str, certificate_pem: str, private_key_pem: str
) -> list[FieldViolation]:
    prefix = "certificate_auth."
    return (
        check_uuid(prefix + "tenant_id", tenant_id)
        + check_uuid(prefix + "client_id", client_id)
        + check_pem(prefix + "certificate_pem", certificate_pem, "CERTIFICATE")
        + check_pem(prefix + "private_key_pem", private_key_pem, "PRIVATE KEY")
    )


def check_managed_identity_auth(client_id: str) -> list[FieldViolation]:
    if not client_id:
        return []
    return check_uuid("managed_identity_auth.client_id", client_id)


def check_vault_in_cloud(vault_base_url: str, cloud: str) -> list[FieldViolation]:
    """A normalised https://<vault>.<suffix> must use the connection's cloud's suffix."""
    host = (urlsplit(vault_base_url).hostname or "").lower()
    suffix = CLOUDS[cloud].vault_suffix
    if not host.endswith("." + suffix):
        return [FieldViolation("vault_base_url", f"must end with .{suffix} for this cloud")]
    return []


# --- aggregates -------------------------------------------------------------------


class AzureConnection(Aggregate):
    class Event(Aggregate.Event):
        actor: str
        request_id: str

    class Created(Event, Aggregate.Created):
        project_id: str
        name: str
        description: str
        cloud: str
        auth_method: str
        tenant_id: str
        client_id: str
        authority_host: str  # development mode override, else ""
        wrapped_key: str  # the connection's data key, wrapped by the root key
        sealed_credentials: str  # the credentials, sealed by that data key

    def __init__(
        self,
        project_id: str,
        name: str,
        description: str,
        cloud: str,
        auth_method: str,
        tenant_id: str,
        client_id: str,
        authority_host: str,
        wrapped_key: str,
        sealed_credentials: str,
    ) -> None:
        self.project_id = project_id
        self.name = name
        self.description = description
        self.cloud = cloud
        self.auth_method = auth_method
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.authority_host = authority_host
        self.wrapped_key = wrapped_key
        self.sealed_credentials = sealed_credentials
        self.deleted = False

    @classmethod
    def create(
        cls,
        connection_id: UUID,
        *,
        project_id: str,
        name: str,
        description: str,
        cloud: str,
        auth_method: AuthMethod,
        tenant_id: str,
        client_id: str,
        authority_host: str,
        wrapped_key: str,
        sealed_credentials: str,
        actor: str,
        request_id: str,
    ) -> AzureConnection:
        return cls._create(
            cls.Created,
            id=connection_id,
            project_id=project_id,
            name=name,
            description=description,
            cloud=cloud,
            auth_method=auth_method.value,
            tenant_id=tenant_id,
            client_id=client_id,
            authority_host=authority_host,
            wrapped_key=wrapped_key,
            sealed_credentials=sealed_credentials,
            actor=actor,
            request_id=request_id,
        )

    class Deleted(Event):
        def apply(self, connection: AzureConnection) -> None:
            connection.deleted = True

    def delete(self, actor: str, request_id: str) -> None:
        if self.deleted:
            raise NotFound(f"connection {self.id} not found", "CONNECTION_NOT_FOUND")
        self.trigger_event(self.Deleted, actor=actor, request_id=request_id)

    class KeyRewrapped(Event):
        """The same data key, wrapped by another root key (a root-key rotation)."""

        wrapped_key: str

        def apply(self, connection: AzureConnection) -> None:
            connection.wrapped_key = self.wrapped_key

    def rewrap_key(self, wrapped_key: str, actor: str, request_id: str) -> None:
        """Also on a deleted connection: its events still hold the sealed credentials."""
        self.trigger_event(
            self.KeyRewrapped, wrapped_key=wrapped_key, actor=actor, request_id=request_id
        )


class ConnectionIndex(Aggregate):
    """One project's live connections by name, for listing."""

    def __init__(self, project_id: str) -> None:
        self.project_id = project_id
        self.connections: dict[str, str] = {}  # name -> connection id

    @staticmethod
    def create_id(project_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"hanzo-kms:connection-index:{project_id}")

    class Added(Aggregate.Event):
        name: str
        connection_id: str

        def apply(self, index: ConnectionIndex) -> None:
            index.connections[self.name] = self.connection_id

    class Removed(Aggregate.Event):
        name: str

        def apply(self, index: ConnectionIndex) -> None:
            index.connections.pop(self.name, None)

    def add(self, name: str, connection_id: str) -> None:
        if name in self.connections:
            raise AlreadyExists(f"the name {name!r} is taken", "NAME_TAKEN").about(
                "connection", name, "name"
            )
        self.trigger_event(self.Added, name=name, connection_id=connection_id)

    def remove(self, name: str) -> None:
        if name in self.connections:
            self.trigger_event(self.Removed, name=name)

    def page(self, after_name: str, limit: int) -> list[str]:
        """Connection ids by name, after `after_name`."""
        names = sorted(n for n in self.connections if n > after_name)[:limit]
        return [self.connections[n] for n in names]
