"""Who is calling: the bearer credential of a call's metadata, as a principal.

`authorization: Bearer <credential>`: a service token ("sst_...", service/app/service_tokens.py)
or a JWT (adapters/jwt_verifier.py). Anything else, or nothing, is UNAUTHENTICATED with
a reason; the messages are fixed texts and never echo what was sent.

Without a bearer token, a call over mutual TLS is its client certificate's principal
(service/api/tls.py: the principals file); a call that carries a token is the token's, so a
token always decides, whatever certificate the connection presented.

A service token that worked is remembered for CACHE_SECONDS (keyed by its hash, never
the token), so a busy caller does not read the event store on every call; revoking on
this replica forgets it at once, other replicas refuse it within CACHE_SECONDS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from adapters.jwt_verifier import JwtRejected, JwtVerifier, looks_like_jwt
from domain.errors import Unauthenticated
from domain.permissions import Principal
from domain.service_token import PREFIX, token_hash
from service.app.service_tokens import (
    TOKEN_EXPIRED,
    TOKEN_MISSING,
    ServiceTokens,
    invalid,
)

CACHE_SECONDS = 2.0
CACHE_SIZE = 10_000
MAX_CREDENTIAL = 8192


def missing() -> Unauthenticated:
    """A new error each time (see service_tokens.invalid)."""
    return Unauthenticated(
        "a bearer token is required in the 'authorization' metadata", TOKEN_MISSING
    )


AuthContext = Mapping[str, Sequence[bytes]]
# A call's TLS auth context -> its certificate's principal, None without a verified one.
CertificatePrincipals = Callable[[AuthContext], Principal | None]


class Authenticator:
    def __init__(
        self,
        tokens: ServiceTokens,
        jwt: JwtVerifier | None = None,
        clock: Callable[[], float] = time.monotonic,
        certificates: CertificatePrincipals | None = None,
    ) -> None:
        self.tokens = tokens
        self.jwt = jwt
        self.certificates = certificates
        self.clock = clock
        self._cache: dict[str, tuple[float, Principal]] = {}  # token hash -> (until, who)
        self._lock = threading.Lock()

    def principal(
        self,
        metadata: Sequence[tuple[str, str | bytes]] | None,
        auth_context: AuthContext | None = None,
    ) -> Principal:
        """The bearer token's principal; without a token, the client certificate's."""
        try:
            credential = bearer(metadata)
        except Unauthenticated as refused:
            if refused.reason == TOKEN_MISSING and self.certificates is not None and auth_context:
                principal = self.certificates(auth_context)  # unknown: CERTIFICATE_UNKNOWN
                if principal is not None:
                    return principal
            raise
        return self.principal_of(credential)

    def principal_of(self, credential: str) -> Principal:
        if credential.startswith(PREFIX):
            return self._service_token(credential)
        if self.jwt is not None and looks_like_jwt(credential):
            try:
                return self.jwt.principal_of(credential)
            except JwtRejected as rejected:
                if rejected.expired:
                    raise Unauthenticated("the bearer token has expired", TOKEN_EXPIRED) from None
                raise invalid() from None
        raise invalid()

    def forget(self) -> None:
        """Drop every remembered token (a token was revoked here)."""
        with self._lock:
            self._cache.clear()

    def _service_token(self, credential: str) -> Principal:
        key = token_hash(credential)
        now = self.clock()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        token = self.tokens.verify(credential)  # raises when it does not work
        principal = token.as_principal()
        left = (token.expires_at - datetime.now(UTC)).total_seconds()
        with self._lock:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = (now + min(CACHE_SECONDS, left), principal)
        return principal


def bearer(metadata: Sequence[tuple[str, str | bytes]] | None) -> str:
    """The credential of the `authorization` metadata; else TOKEN_MISSING or TOKEN_INVALID."""
    values = [v for k, v in metadata or () if k == "authorization"]
    if not values:
        raise missing()
    if len(values) > 1 or not isinstance(values[0], str):
        raise invalid()
    scheme, _, credential = values[0].strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        raise missing() if not values[0].strip() else invalid()
    if len(credential) > MAX_CREDENTIAL or " " in credential:
        raise invalid()
    return credential
