"""Use cases of service tokens: make one (shown once), list, revoke, and check one a
caller presents. Each change is an event, so the audit shows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application

from domain.errors import Unauthenticated, require
from domain.permissions import BOOTSTRAP_ACTOR, Principal
from domain.rules import check_request_id, check_uuid
from domain.service_token import (
    DEFAULT_TTL,
    ServiceToken,
    TokenRegistry,
    check_token_request,
    expiry,
    new_token,
    new_token_id,
    token_hash,
    token_id_of,
    token_not_found,
)
from service.app.call_context import CallContext
from service.app.retry import retried

# Reasons of UNAUTHENTICATED; the messages are fixed texts that never echo a credential.
TOKEN_MISSING = "TOKEN_MISSING"
TOKEN_INVALID = "TOKEN_INVALID"
TOKEN_EXPIRED = "TOKEN_EXPIRED"
TOKEN_REVOKED = "TOKEN_REVOKED"


def invalid() -> Unauthenticated:
    """A new error each time: raising one shared instance would chain every raise's
    traceback onto it, keeping frames (and the credentials in them) alive for good."""
    return Unauthenticated("the bearer token is not valid", TOKEN_INVALID)


class ServiceTokens(Application[UUID]):
    name = "ServiceTokens"

    @retried
    def create(
        self,
        name: str,
        principal: str,
        grants: list[dict[str, Any]],
        ttl: timedelta | None,
        ctx: CallContext,
    ) -> tuple[ServiceToken, str]:
        """The token's record and the token itself (which is never stored)."""
        ttl = DEFAULT_TTL if ttl is None else ttl
        # Only `token create --bootstrap` acts as "bootstrap" (a name no credential takes):
        # it alone may name the bootstrap admin's principal.
        parsed, violations = check_token_request(
            name, principal, grants, ttl, bootstrap=ctx.actor == BOOTSTRAP_ACTOR
        )
        require(violations + check_request_id(ctx.request_id))
        registry = self._registry()
        token_id = new_token_id()
        registry.add(name, str(token_id))
        token = new_token(token_id)
        record = ServiceToken.create(
            token_id,
            name,
            principal,
            parsed,
            token_hash(token),
            expiry(datetime.now(UTC), ttl),
            ctx.actor,
            ctx.request_id,
        )
        self.save(registry, record)
        return record, token

    def list_tokens(self, include_revoked: bool) -> list[ServiceToken]:
        """Newest first."""
        registry = self._registry()
        live = set(registry.tokens.values())
        ids = [i for i in reversed(registry.all) if include_revoked or i in live]
        return [self.get(i) for i in ids]

    @retried
    def revoke(self, token_id: str, ctx: CallContext) -> ServiceToken:
        require(check_request_id(ctx.request_id))
        token = self.get(token_id, "id")
        if token.revoked_at is not None:
            return token
        token.revoke(ctx.actor, ctx.request_id)
        registry = self._registry()
        registry.remove(token.name, str(token.id))
        self.save(token, registry)
        return token

    def get(self, token_id: str, field: str = "id") -> ServiceToken:
        require(check_uuid(field, token_id))
        try:
            token = self.repository.get(UUID(token_id))
        except AggregateNotFoundError:
            token = None
        if not isinstance(token, ServiceToken):
            raise token_not_found(token_id)
        return token

    # --- checking a presented token ------------------------------------------------

    def principal_of(self, presented: str, now: datetime | None = None) -> Principal:
        return self.verify(presented, now).as_principal()

    def verify(self, presented: str, now: datetime | None = None) -> ServiceToken:
        """The token record a presented token proves; UNAUTHENTICATED when it does not work.

        The hash is checked before anything else is told: a made-up token with a real
        id is TOKEN_INVALID, not TOKEN_REVOKED or TOKEN_EXPIRED."""
        token_id = token_id_of(presented)
        if token_id is None:
            raise invalid()
        try:
            token = self.repository.get(token_id)
        except AggregateNotFoundError:
            raise invalid() from None
        if not isinstance(token, ServiceToken) or not token.proves(presented):
            raise invalid()
        if token.revoked_at is not None:
            raise Unauthenticated("the bearer token was revoked", TOKEN_REVOKED)
        if token.expired(now or datetime.now(UTC)):
            raise Unauthenticated("the bearer token has expired", TOKEN_EXPIRED)
        return token

    def _registry(self) -> TokenRegistry:
        try:
            registry = self.repository.get(TokenRegistry.ID)
        except AggregateNotFoundError:
            return TokenRegistry()
        assert isinstance(registry, TokenRegistry)
        return registry
