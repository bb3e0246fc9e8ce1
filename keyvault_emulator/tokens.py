"""A tiny Microsoft Entra ID stand-in: OIDC discovery and the client-credentials token grant.

MSAL (under azure-identity's ClientSecretCredential with `authority=https://host:port` and
`disable_instance_discovery=True`) first GETs `/{tenant}/v2.0/.well-known/openid-configuration`
and then POSTs the form to its `token_endpoint`. Tokens are random opaque strings mapped to
the principal, audience and expiry: nothing ever needs to decode them.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote

from keyvault_emulator.principals import Principal, Principals
from keyvault_emulator.wire import Request, Response, json_response

VAULT_RESOURCE = "https://vault.azure.net"
DISCOVERY_PATH = re.compile(r"^/([^/]+)/v2\.0/\.well-known/openid-configuration/?$")
TOKEN_PATH = re.compile(r"^/([^/]+)/oauth2/v2\.0/token/?$")


@dataclass(frozen=True)
class Grant:
    client_id: str
    resource: str
    expires_at: float


@dataclass(frozen=True)
class Authentication:
    principal: Principal | None
    refusal: str  # the 401 message when principal is None
    revoked: bool = False  # answer with a claims challenge rather than a plain one


def token_kind(path: str) -> str | None:
    """The kind of an identity endpoint ("discovery" or "token"), else None."""
    if DISCOVERY_PATH.match(path):
        return "discovery"
    if TOKEN_PATH.match(path):
        return "token"
    return None


class Identity:
    def __init__(
        self,
        tenant_id: str,
        principals: Principals,
        *,
        clock: Callable[[], float] = time.time,
        token_lifetime: int = 3600,
    ) -> None:
        self.tenant_id = tenant_id
        self.principals = principals
        self.token_lifetime = token_lifetime
        self._clock = clock
        self._lock = threading.Lock()
        self._grants: dict[str, Grant] = {}
        self._revoked: set[str] = set()

    # --- the vault side ----------------------------------------------------------

    def challenge(self, base_url: str) -> str:
        """The WWW-Authenticate value of a 401. Its authority is the emulator itself, so a
        credential built with authority=<emulator> finds the tenant it expects."""
        return f'Bearer authorization="{base_url}/{self.tenant_id}", resource="{VAULT_RESOURCE}"'

    def claims_challenge(self, base_url: str) -> str:
        """A CAE claims challenge: what Key Vault sends for a revoked token. The SDK then
        asks for a token with these claims, which bypasses MSAL's token cache."""
        claims = json.dumps(
            {"access_token": {"nbf": {"essential": True, "value": str(int(self._clock()))}}}
        )
        encoded = base64.urlsafe_b64encode(claims.encode()).decode()
        return (
            f'Bearer realm="", authorization_uri="{base_url}/{self.tenant_id}/oauth2/authorize", '
            f'error="insufficient_claims", claims="{encoded}"'
        )

    def authenticate(self, authorization: str | None) -> Authentication:
        """Who sent a Bearer header, or why the request is refused (the 401 message)."""
        if not authorization:
            return Authentication(None, "AKV10000: Request is missing a Bearer or PoP token.")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return Authentication(None, "AKV10000: Request is missing a Bearer or PoP token.")
        with self._lock:
            grant = self._grants.get(token)
            revoked = token in self._revoked
        if revoked:
            return Authentication(None, "The access token has been revoked.", revoked=True)
        # Wording of the next two is the emulator's: the service's text varies.
        if grant is None or grant.expires_at <= self._clock():
            return Authentication(None, "AKV10013: The access token is invalid or has expired.")
        if grant.resource.rstrip("/") != VAULT_RESOURCE:
            return Authentication(
                None,
                f"AKV10022: Invalid audience. Expected {VAULT_RESOURCE}, found: {grant.resource}.",
            )
        principal = self.principals.get(grant.client_id)
        if principal is None:
            return Authentication(None, "AKV10013: The access token is invalid or has expired.")
        return Authentication(principal, "")

    # --- the identity endpoints --------------------------------------------------

    def handle(self, request: Request) -> Response:
        discovery = DISCOVERY_PATH.match(request.path)
        if discovery and request.method == "GET":
            return self._discovery(request, unquote(discovery.group(1)))
        token = TOKEN_PATH.match(request.path)
        if token and request.method == "POST":
            return self._token(request, unquote(token.group(1)))
        return _aad_error(
            405,
            "invalid_request",
            900561,
            "The endpoint only accepts " + ("GET" if discovery else "POST") + " requests.",
        )

    def _known_tenant(self, tenant: str) -> bool:
        return tenant.lower() == self.tenant_id.lower()

    def _discovery(self, request: Request, tenant: str) -> Response:
        if not self._known_tenant(tenant):
            return _unknown_tenant(tenant)
        root = f"{request.base_url}/{self.tenant_id}"
        return json_response(
            200,
            {
                "token_endpoint": f"{root}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{root}/discovery/v2.0/keys",
                "response_types_supported": ["code", "id_token", "code id_token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{root}/v2.0",
                "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
                "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
                "tenant_region_scope": None,
                "cloud_instance_name": "emulator",
            },
        )

    def _token(self, request: Request, tenant: str) -> Response:
        if not self._known_tenant(tenant):
            return _unknown_tenant(tenant)
        form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        client_id, client_secret = _client_credentials(form, request.header("authorization"))
        if form.get("grant_type") != "client_credentials":
            return _aad_error(
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type "
                f"'{form.get('grant_type', '')}'. The emulator supports client_credentials only.",
            )
        if not client_id:
            return _aad_error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            )
        principal = self.principals.get(client_id)
        if principal is None:
            return _aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{self.tenant_id}'.",
            )
        if client_secret is None:
            return _aad_error(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or "
                "'client_secret'.",
            )
        if not principal.secret_matches(client_secret):
            return _aad_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                "the client secret value, not the client secret ID, for a secret added to app "
                f"'{principal.client_id}'.",
            )
        scope = form.get("scope", "")
        resource = _resource_of(scope)
        if resource is None:
            return _aad_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        return json_response(200, self._issue(principal, resource))

    def _issue(self, principal: Principal, resource: str) -> dict[str, Any]:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            # Forget expired grants so a long benchmark does not grow the map forever.
            for stale in [t for t, g in self._grants.items() if g.expires_at <= now]:
                del self._grants[stale]
            if len(self._revoked) > 10_000:  # bounded: old revoked tokens just turn invalid
                self._revoked.clear()
            self._grants[token] = Grant(principal.client_id, resource, now + self.token_lifetime)
        return {
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
            "access_token": token,
        }

    def revoke_all(self) -> None:
        """Revoke every issued token, as Continuous Access Evaluation would: the vault
        answers them with a claims challenge and the SDK fetches a fresh token."""
        with self._lock:
            self._revoked.update(self._grants)
            self._grants.clear()


def _client_credentials(form: dict[str, str], authorization: str | None) -> tuple[str, str | None]:
    """client_secret_post, or client_secret_basic in the Authorization header."""
    if authorization and authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip()).decode()
        except ValueError:
            decoded = ""
        user, sep, password = decoded.partition(":")
        if sep:
            return unquote(user), unquote(password)
    return form.get("client_id", ""), form.get("client_secret")


def _resource_of(scope: str) -> str | None:
    """The resource of a client-credentials scope ("<resource>/.default"), else None."""
    scopes = scope.split()
    if len(scopes) != 1 or not scopes[0].endswith("/.default"):
        return None
    resource = scopes[0][: -len("/.default")]
    return resource or None


def _unknown_tenant(tenant: str) -> Response:
    return _aad_error(
        400,
        "invalid_tenant",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and "
        "are signing into the correct cloud.",
    )


def _aad_error(status: int, error: str, code: int, description: str) -> Response:
    """Entra ID's OAuth error body: error, AADSTS-prefixed description, error_codes, ids."""
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    timestamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return json_response(
        status,
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description} Trace ID: {trace_id} "
            f"Correlation ID: {correlation_id} Timestamp: {timestamp}",
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        },
    )
