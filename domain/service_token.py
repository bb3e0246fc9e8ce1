"""Service tokens: bearer credentials an admin makes for a principal and its grants.

The token itself is shown once, when it is made, and never stored: its aggregate keeps
the SHA-256 of it (`secret_hash`), which only the token's own Created event holds (the
audit, the API and the logs never show it). A token is `sst_<id>_<secret>`: the id (32
hex digits) finds the aggregate, the secret (32 random bytes, URL-safe base64) proves
it. Revoking is an event; a revoked token never works again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.errors import AlreadyExists, FieldViolation, NotFound
from domain.permissions import Grant, Principal, check_principal, grants_as_dicts, parse_grants
from domain.rules import check_name

PREFIX = "sst_"
TOKEN_RE = re.compile(r"^sst_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$")
MAX_TTL = timedelta(days=3650)
DEFAULT_TTL = timedelta(days=90)


def new_token(token_id: UUID) -> str:
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    return f"{PREFIX}{token_id.hex}_{secret}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_id_of(token: str) -> UUID | None:
    """The id a well-formed token names; None for anything else."""
    match = TOKEN_RE.fullmatch(token)
    return UUID(hex=match.group(1)) if match else None


class ServiceToken(Aggregate):
    class Event(Aggregate.Event):
        actor: str
        request_id: str

    class Created(Event, Aggregate.Created):
        name: str
        principal: str
        grants: list[dict[str, Any]]
        secret_hash: str  # SHA-256 of the token; the only place it is kept
        expires_at: datetime

        def apply(self, token: ServiceToken) -> None:
            token.created_by = self.actor

    def __init__(
        self,
        name: str,
        principal: str,
        grants: list[dict[str, Any]],
        secret_hash: str,
        expires_at: datetime,
    ) -> None:
        self.name = name
        self.principal = principal
        self.grants = grants
        self.secret_hash = secret_hash
        self.expires_at = expires_at
        self.revoked_at: datetime | None = None
        self.created_by = ""

    @classmethod
    def create(
        cls,
        token_id: UUID,
        name: str,
        principal: str,
        grants: tuple[Grant, ...],
        secret_hash: str,
        expires_at: datetime,
        actor: str,
        request_id: str,
    ) -> ServiceToken:
        return cls._create(
            cls.Created,
            id=token_id,
            name=name,
            principal=principal,
            grants=grants_as_dicts(grants),
            secret_hash=secret_hash,
            expires_at=expires_at,
            actor=actor,
            request_id=request_id,
        )

    class Revoked(Event):
        def apply(self, token: ServiceToken) -> None:
            token.revoked_at = self.timestamp

    def revoke(self, actor: str, request_id: str) -> None:
        if self.revoked_at is None:
            self.trigger_event(self.Revoked, actor=actor, request_id=request_id)

    # --- checking a presented token ---------------------------------------------------

    def proves(self, token: str) -> bool:
        return hmac.compare_digest(token_hash(token), self.secret_hash)

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def as_principal(self) -> Principal:
        grants, _ = parse_grants(self.grants)
        return Principal(self.principal, grants)


class TokenRegistry(Aggregate):
    """The live (unrevoked) tokens by name: names are unique among them; for listing."""

    ID = UUID("0b5c2f7e-3e1a-4d8c-9a6b-7f2d1c0e5a93")

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}  # name -> token id
        self.all: list[str] = []  # every token id ever made, oldest first

    @staticmethod
    def create_id() -> UUID:
        return TokenRegistry.ID

    class Added(Aggregate.Event):
        name: str
        token_id: str

        def apply(self, registry: TokenRegistry) -> None:
            registry.tokens[self.name] = self.token_id
            registry.all.append(self.token_id)

    class Removed(Aggregate.Event):
        name: str

        def apply(self, registry: TokenRegistry) -> None:
            registry.tokens.pop(self.name, None)

    def add(self, name: str, token_id: str) -> None:
        if name in self.tokens:
            raise AlreadyExists(f"a live token named {name!r} exists", "NAME_TAKEN").about(
                "service_token", name, "name"
            )
        self.trigger_event(self.Added, name=name, token_id=token_id)

    def remove(self, name: str, token_id: str) -> None:
        if self.tokens.get(name) == token_id:
            self.trigger_event(self.Removed, name=name)


def check_token_request(
    name: str,
    principal: str,
    raw_grants: list[dict[str, Any]],
    ttl: timedelta,
    *,
    bootstrap: bool = False,
) -> tuple[tuple[Grant, ...], list[FieldViolation]]:
    """The grants of a token to make, and everything wrong with the request. Only the
    bootstrap may name the bootstrap admin's principal."""
    violations = check_name(name)
    violations += check_principal(principal, bootstrap=bootstrap)
    grants, found = parse_grants(raw_grants)
    violations += found
    if not raw_grants:
        violations.append(FieldViolation("grants", "must hold at least one grant"))
    if ttl <= timedelta(0) or ttl > MAX_TTL:
        violations.append(FieldViolation("ttl", "must be positive and at most 3650 days"))
    return grants, violations


def ttl_of(seconds: int, nanos: int) -> tuple[timedelta | None, list[FieldViolation]]:
    """A request's Duration as a ttl, bounds checked before any arithmetic: a Duration
    may say 2^62 seconds, past what a timedelta (or a date) can hold."""
    bad = [FieldViolation("ttl", "must be positive and at most 3650 days")]
    if not 0 <= nanos < 1_000_000_000 or seconds < 0:
        return None, [FieldViolation("ttl", "is not a valid duration")]
    if seconds > MAX_TTL.total_seconds():
        return None, bad
    return timedelta(seconds=seconds, microseconds=nanos // 1000), []


def expiry(now: datetime, ttl: timedelta) -> datetime:
    return (now + ttl).astimezone(UTC)


def token_not_found(token_id: str) -> NotFound:
    return NotFound(f"service token {token_id} not found", "TOKEN_NOT_FOUND").about(
        resource_id=token_id, field="id"
    )


def new_token_id() -> UUID:
    return uuid.uuid4()
