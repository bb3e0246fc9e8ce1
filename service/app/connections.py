"""Use cases of Azure connections: create, read, list, delete, validate, and the
token credential a sync uses. Credentials are sealed before they reach an event."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from azure.core.credentials import TokenCredential
from eventsourcing.application import AggregateNotFoundError, Application

from adapters import azure_credentials
from adapters.azure_credentials import Validation
from adapters.envelope import RootKey
from domain.connection import (
    CLOUDS,
    AuthMethod,
    AzureConnection,
    ConnectionIndex,
    check_certificate_auth,
    check_client_secret_auth,
    check_cloud,
    check_managed_identity_auth,
    check_vault_in_cloud,
    connection_names,
)
from domain.errors import (
    FailedPrecondition,
    FieldViolation,
    ManagedIdentityNotAllowed,
    NotFound,
    require,
)
from domain.managed_identity import Allowance, identity_allowed, vault_allowed
from domain.name_claim import NameClaim
from domain.rules import (
    check_description,
    check_name,
    check_uuid,
    is_loopback,
    normalise_vault_base_url,
)
from service.app import access
from service.app.call_context import CallContext
from service.app.retry import retried

CA_BUNDLE_ENV = "SECRET_SYNC_CA_BUNDLE"


@dataclass(frozen=True)
class AuthInput:
    """The auth part of a create request; `secrets` are sealed, never stored plain."""

    method: AuthMethod | None
    tenant_id: str = ""
    client_id: str = ""
    authority_host: str = ""
    secrets: dict[str, str] = field(default_factory=dict)


class AzureConnections(Application[UUID]):
    name = "AzureConnections"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        root_key: RootKey | None = None,
        users: Callable[[str, str], list[str]] | None = None,
        managed_identities: tuple[Allowance, ...] = (),
    ) -> None:
        """`root_key` seals and opens credentials (a reader of events alone needs none);
        `users` names (some of) the syncs using a connection, which then cannot go;
        `managed_identities` is the operator's allowance (domain/managed_identity.py)."""
        super().__init__(env=env)
        self._root_key = root_key
        self.users = users or (lambda project_id, connection_id: [])
        self.managed_identities = managed_identities

    @property
    def root_key(self) -> RootKey:
        if self._root_key is None:
            raise RuntimeError("AzureConnections was made without the root key")
        return self._root_key

    @property
    def dev_mode(self) -> bool:
        return bool(self.env.get("SECRET_SYNC_DEV_MODE"))

    # --- commands ------------------------------------------------------------------

    @retried
    def create(
        self,
        project_id: str,
        name: str,
        description: str,
        cloud: str,
        auth: AuthInput,
        ctx: CallContext,
    ) -> AzureConnection:
        require(
            check_uuid("project_id", project_id)
            + check_name(name)
            + check_description(description)
            + check_cloud(cloud)
            + self._check_auth(auth)
        )
        assert auth.method is not None
        if auth.method is AuthMethod.MANAGED_IDENTITY:
            refused = identity_allowed(self.managed_identities, project_id, auth.client_id)
            if refused is not None:
                raise ManagedIdentityNotAllowed(refused)
        connection_id = uuid.uuid4()
        claim = self._claim(project_id, name)
        claim.claim(str(connection_id))
        index = self._index(project_id)
        index.add(name, str(connection_id))
        wrapped, sealed = azure_credentials.seal_credentials(
            self.root_key, str(connection_id), auth.secrets
        )
        connection = AzureConnection.create(
            connection_id,
            project_id=project_id,
            name=name,
            description=description,
            cloud=cloud,
            auth_method=auth.method,
            tenant_id=auth.tenant_id,
            client_id=auth.client_id,
            authority_host=auth.authority_host,
            wrapped_key=wrapped,
            sealed_credentials=sealed,
            actor=ctx.actor,
            request_id=ctx.request_id,
        )
        self.save(claim, index, connection)
        return connection

    @retried
    def delete(self, connection_id: str, ctx: CallContext) -> None:
        """Refused while a sync uses the connection: its jobs would fail."""
        connection = self.get(connection_id)
        users = self.users(connection.project_id, str(connection.id))
        if users:
            raise FailedPrecondition(
                f"connection {connection_id} is used by secret syncs: {', '.join(users)}; "
                "delete them or point them at another connection first",
                "CONNECTION_IN_USE",
            )
        connection.delete(ctx.actor, ctx.request_id)
        claim = self._claim(connection.project_id, connection.name)
        claim.release(str(connection.id))
        index = self._index(connection.project_id)
        index.remove(connection.name)
        self.save(connection, claim, index)

    @retried
    def rewrap_key(self, connection_id: UUID, ctx: CallContext) -> bool:
        """Re-wrap the connection's data key by the primary root key (a rotation, also of
        deleted connections); False if it already was."""
        connection = self.repository.get(connection_id)
        assert isinstance(connection, AzureConnection)
        if self.root_key.is_primary(connection.wrapped_key):
            return False
        wrapped = azure_credentials.rewrap_credentials_key(
            self.root_key, str(connection.id), connection.wrapped_key
        )
        connection.rewrap_key(wrapped, ctx.actor, ctx.request_id)
        self.save(connection)
        return True

    def key_is_primary(self, connection_id: UUID) -> bool:
        connection = self.repository.get(connection_id)
        return self.root_key.is_primary(connection.wrapped_key)  # type: ignore[attr-defined]

    # --- queries -------------------------------------------------------------------

    def get(self, connection_id: str, field_name: str = "connection_id") -> AzureConnection:
        require(check_uuid(field_name, connection_id))
        try:
            connection = self.repository.get(UUID(connection_id))
        except AggregateNotFoundError:
            connection = None
        if not isinstance(connection, AzureConnection) or connection.deleted:
            raise _missing(connection_id)
        missing = _missing(connection_id)
        access.resource(access.CONNECTION, connection.project_id, None, None, missing)
        return connection

    def name_of(self, connection_id: str) -> str:
        """A connection's name, "" when it does not exist (any more). No access check:
        for showing beside a sync the caller may already see, in the same project."""
        try:
            found: object = self.repository.get(UUID(connection_id))
        except (AggregateNotFoundError, ValueError):
            return ""
        if isinstance(found, AzureConnection) and not found.deleted:
            return str(found.name)
        return ""

    def list_connections(
        self, project_id: str, after_name: str = "", limit: int = 50
    ) -> list[AzureConnection]:
        """A project's connections by name, after `after_name`."""
        require(check_uuid("project_id", project_id))
        ids = self._index(project_id).page(after_name, limit)
        return [self.get(i) for i in ids]

    def credential_for(
        self,
        connection_id: str,
        authority_override: str | None = None,
        connection_verify: str | None = None,
        **transport: Any,
    ) -> TokenCredential:
        """The azure-identity credential of a connection. An authority override (the
        argument, or the one stored in development mode) points it at an emulator."""
        connection = self.get(connection_id)
        secrets = azure_credentials.open_credentials(
            self.root_key, str(connection.id), connection.wrapped_key, connection.sealed_credentials
        )
        override = authority_override or (connection.authority_host if self.dev_mode else "")
        return azure_credentials.build_credential(
            connection.auth_method,
            authority=CLOUDS[connection.cloud].authority_host,
            tenant_id=connection.tenant_id,
            client_id=connection.client_id,
            secrets=secrets,
            authority_override=override,
            connection_verify=connection_verify,
            **transport,
        )

    def check_reach(self, connection: AzureConnection, vault_base_url: str) -> None:
        """A managed-identity connection reaches only the vaults the operator allows its
        project (PERMISSION_DENIED, MANAGED_IDENTITY_NOT_ALLOWED); others reach any."""
        if connection.auth_method != AuthMethod.MANAGED_IDENTITY:
            return
        host = urlsplit(vault_base_url).hostname or ""
        refused = vault_allowed(
            self.managed_identities, connection.project_id, connection.client_id, host
        )
        if refused is not None:
            raise ManagedIdentityNotAllowed(refused)

    def validate(self, connection_id: str, vault_base_url: str) -> Validation:
        """Get a token and list one page of the vault. A bad request raises
        INVALID_ARGUMENT; a connection that does not work is an answer, not an error."""
        vault_url, violations = normalise_vault_base_url(
            vault_base_url, allow_loopback=self.dev_mode
        )
        violations = [FieldViolation("vault_base_url", v.description) for v in violations]
        require(check_uuid("connection_id", connection_id) + violations)
        connection = self.get(connection_id)
        self.check_reach(connection, vault_url)
        loopback = self.dev_mode and _is_loopback_url(vault_url)
        if not loopback:
            require(check_vault_in_cloud(vault_url, connection.cloud))
        ca_bundle = os.environ.get(CA_BUNDLE_ENV) or None
        credential = self.credential_for(connection_id, connection_verify=ca_bundle, retry_total=0)
        try:
            return azure_credentials.validate(
                credential,
                vault_url,
                scope=f"https://{CLOUDS[connection.cloud].vault_suffix}/.default",
                tenant_id=connection.tenant_id,
                client_id=connection.client_id,
                verify_challenge_resource=not loopback,
                connection_verify=ca_bundle,
            )
        finally:
            close = getattr(credential, "close", None)
            if close is not None:
                close()

    # --- helpers -------------------------------------------------------------------

    def _check_auth(self, auth: AuthInput) -> list[FieldViolation]:
        if auth.method is None:
            return [
                FieldViolation(
                    "auth",
                    "is required: one of client_secret_auth, "
                    "certificate_auth or managed_identity_auth",
                )
            ]
        if auth.method is AuthMethod.CLIENT_SECRET:
            return check_client_secret_auth(
                auth.tenant_id,
                auth.client_id,
                auth.secrets.get("client_secret", ""),
                auth.authority_host,
                dev_mode=self.dev_mode,
            )
        if auth.method is AuthMethod.CERTIFICATE:
            return check_certificate_auth(
                auth.tenant_id,
                auth.client_id,
                auth.secrets.get("certificate_pem", ""),
                auth.secrets.get("private_key_pem", ""),
            )
        return check_managed_identity_auth(auth.client_id)

    def _claim(self, project_id: str, name: str) -> NameClaim:
        scope = connection_names(project_id)
        try:
            claim = self.repository.get(NameClaim.create_id(scope, name))
        except AggregateNotFoundError:
            claim = NameClaim(scope=scope, name=name)
        assert isinstance(claim, NameClaim)
        return claim

    def _index(self, project_id: str) -> ConnectionIndex:
        try:
            index = self.repository.get(ConnectionIndex.create_id(project_id))
        except AggregateNotFoundError:
            index = ConnectionIndex(project_id=project_id)
        assert isinstance(index, ConnectionIndex)
        return index


def _is_loopback_url(url: str) -> bool:
    return is_loopback((urlsplit(url).hostname or "").lower())


def _missing(connection_id: str) -> NotFound:
    return NotFound(f"connection {connection_id} not found", "CONNECTION_NOT_FOUND").about(
        resource_id=connection_id.lower(), field="connection_id"
    )
