"""JWT bearer credentials, verified against configured public keys (PyJWT + cryptography).

Only asymmetric algorithms are accepted (never "none" or HMAC: a shared secret would let
anyone who can verify also mint). A token must carry `exp`, `iss`, `aud` and `sub`;
issuer and audience must be the configured ones; expiry and not-before are checked with
the configured clock skew. Keys: one PEM public key, or a JWKS file (the token's `kid`
picks the key; without a `kid`, a set of one key is used).

Claims: `sub` is the principal (recorded as the actor), `kms_grants` its grants: a list
of {"project": "<uuid>" | "*", "actions": [...], "environments": [...], "paths": [...]}.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from domain.permissions import Principal, check_principal, parse_grants

ALGORITHMS = (
    *("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    *("ES256", "ES384", "ES512", "EdDSA"),
)
GRANTS_CLAIM = "kms_grants"


class JwtRejected(Exception):
    """The JWT does not work; `expired` tells an expired one from a bad one."""

    def __init__(self, why: str, expired: bool = False) -> None:
        super().__init__(why)
        self.expired = expired


@dataclass(frozen=True)
class JwtSettings:
    issuer: str
    audience: str
    public_key_file: str = ""
    jwks_file: str = ""
    leeway_seconds: float = 30.0
    algorithms: tuple[str, ...] = ALGORITHMS


class JwtVerifier:
    def __init__(self, settings: JwtSettings) -> None:
        if not settings.issuer or not settings.audience:
            raise ValueError("JWT verification needs an issuer and an audience")
        unknown = set(settings.algorithms) - set(ALGORITHMS)
        if unknown or not settings.algorithms:
            raise ValueError(f"JWT algorithms must be among {', '.join(ALGORITHMS)}")
        self.settings = settings
        self.public_key: Any = None
        self.keys: dict[str, Any] = {}
        if settings.public_key_file:
            self.public_key = Path(settings.public_key_file).read_text()
        if settings.jwks_file:
            keyset = jwt.PyJWKSet.from_json(Path(settings.jwks_file).read_text())
            self.keys = {key.key_id or "": key for key in keyset.keys}
        if self.public_key is None and not self.keys:
            raise ValueError("JWT verification needs a public key file or a JWKS file")

    def principal_of(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            key = self._key_for(header)
            claims = jwt.decode(
                token,
                key=key,
                algorithms=list(self.settings.algorithms),
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise JwtRejected("expired", expired=True) from None
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as error:
            raise JwtRejected(type(error).__name__) from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or check_principal(subject):
            raise JwtRejected("sub")
        grants, violations = parse_grants(claims.get(GRANTS_CLAIM, []), GRANTS_CLAIM)
        if violations:
            raise JwtRejected(GRANTS_CLAIM)
        return Principal(subject, grants)

    def _key_for(self, header: dict[str, Any]) -> Any:
        kid = header.get("kid")
        if self.keys:
            if isinstance(kid, str) and kid in self.keys:
                return self.keys[kid]
            if kid is None and len(self.keys) == 1:
                return next(iter(self.keys.values()))
            if self.public_key is None:
                raise JwtRejected("kid")
        return self.public_key


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def describe_keys(settings: JwtSettings) -> str:
    """Where the keys come from, for the start-up log (never key material)."""
    sources = [s for s in (settings.public_key_file, settings.jwks_file) if s]
    return json.dumps({"issuer": settings.issuer, "audience": settings.audience, "keys": sources})
