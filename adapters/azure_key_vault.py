"""The KeyVault port implemented with the official azure-keyvault-secrets SDK.

azure-core's own retry is turned off (retry_total=0) so that retries are ours:
paced, counted, with Retry-After honoured and full-jitter backoff otherwise.
Nothing here ever puts a secret value in an exception or a log line.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.keyvault.secrets import SecretClient, SecretProperties

from adapters.pacing import Pacer, VaultPacer, backoff
from domain.plan import VaultSecret
from domain.vault import BEING_DELETED, VaultError

T = TypeVar("T")
MAX_ATTEMPTS = 6
RECOVER_WAIT_SECONDS = 60.0
log = logging.getLogger("secretsync.azure")


# Told of every attempt: operation, status ("ok", an HTTP status or "unreachable"),
# whether it will be retried, and the seconds it first waited for the pacer. The
# service sets it to count requests (adapters may not import the service); process-wide
# like the metrics it feeds.
RequestHook = Callable[[str, str, bool, float], None]


def _unobserved(operation: str, status: str, retrying: bool, paced_seconds: float) -> None:
    pass


_on_request: RequestHook = _unobserved


def on_request(hook: RequestHook) -> None:
    global _on_request
    _on_request = hook


class AzureKeyVault:
    def __init__(
        self,
        vault_url: str,
        credential: TokenCredential,
        *,
        pacer: Pacer | None = None,
        connection_verify: str | bool = True,
        verify_challenge_resource: bool = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.vault_url = vault_url
        self._client = SecretClient(
            vault_url=vault_url,
            credential=credential,
            verify_challenge_resource=verify_challenge_resource,
            connection_verify=connection_verify,
            retry_total=0,
            # A redirect would carry the vault token to whatever host it names.
            permit_redirects=False,
        )
        self._pacer: Pacer = pacer or VaultPacer()
        self._sleep = sleep
        self._lock = threading.Lock()
        self.requests = 0
        self.throttled = 0
        self.retries = 0

    def request_count(self) -> int:
        return self.requests

    # --- the port --------------------------------------------------------------

    def list_secrets(self) -> list[VaultSecret]:
        pages = self._client.list_properties_of_secrets().by_page()  # lazy: no request yet
        listing: list[VaultSecret] = []
        while True:
            page = self._call("list", False, lambda: list(next(pages, None) or [None]))
            if page == [None]:
                return listing
            listing += [_vault_secret(p) for p in page if p is not None]

    def get_value(self, name: str) -> str:
        secret = self._call("get", False, lambda: self._client.get_secret(name))
        return secret.value or ""

    def set_secret(self, name: str, value: str, tags: Mapping[str, str]) -> int | None:
        secret = self._call(
            "set", True, lambda: self._client.set_secret(name, value, tags=dict(tags))
        )
        return _unix(secret.properties.updated_on)

    def delete_secret(self, name: str) -> None:
        self._call("delete", True, lambda: self._client.begin_delete_secret(name))

    def recover_secret(self, name: str) -> None:
        deadline = time.monotonic() + RECOVER_WAIT_SECONDS
        delay = 0.1
        while True:  # a deletion still in progress must finish before a recovery
            try:
                self._call(
                    "recover", True, lambda: self._client.begin_recover_deleted_secret(name)
                )
                break
            except VaultError as error:
                if error.inner != BEING_DELETED or time.monotonic() >= deadline:
                    raise
            self._sleep(delay)
            delay = min(delay * 2, 2.0)
        delay = 0.1
        while time.monotonic() < deadline:  # recovery is asynchronous in Key Vault
            try:
                self._call("get", False, lambda: self._client.get_secret(name))
                return
            except VaultError as error:
                if error.code != "SecretNotFound":
                    raise
            self._sleep(delay)
            delay = min(delay * 2, 2.0)
        raise VaultError("RecoverTimeout", f"{name} was not recovered within 60 s")

    # --- requests --------------------------------------------------------------

    def _call(self, name: str, is_write: bool, operation: Callable[[], T]) -> T:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            begun = time.monotonic()
            self._pacer.before(is_write)
            paced = time.monotonic() - begun
            with self._lock:
                self.requests += 1
            try:
                result = operation()
            except (HttpResponseError, ServiceRequestError, ServiceResponseError) as raw:
                error = to_vault_error(raw)
                retrying = error.transient and attempt < MAX_ATTEMPTS
                _on_request(name, str(error.status or "unreachable"), retrying, paced)
                if not retrying:
                    raise error from None
                with self._lock:
                    self.retries += 1
                    self.throttled += error.status == 429
                self._sleep(backoff(attempt, _retry_after(raw)))
                continue
            except ValueError as raw:  # the SDK's challenge-resource check refused
                if "challenge resource" not in str(raw):
                    raise
                _on_request(name, "refused", False, paced)
                raise VaultError(
                    "ChallengeResourceMismatch",
                    "the vault's authentication challenge names another cloud's resource "
                    "than the vault URL's domain: check that the URL's suffix matches the "
                    "vault's cloud",
                ) from None
            _on_request(name, "ok", False, paced)
            return result
        raise AssertionError("unreachable")


def to_vault_error(raw: Exception) -> VaultError:
    if isinstance(raw, (ServiceRequestError, ServiceResponseError)):
        return VaultError("ConnectionError", f"could not reach the vault: {type(raw).__name__}")
    assert isinstance(raw, HttpResponseError)
    if isinstance(raw, ClientAuthenticationError) and raw.status_code is None:
        # No token (the credential failed before any vault request): not transient.
        # Identity errors name tenants, clients and AADSTS codes, never the secret.
        return VaultError("AuthenticationFailed", str(raw.message or raw)[:300], 401)
    status = raw.status_code or 0
    code, inner, message = "HttpError", "", raw.reason or ""
    odata = getattr(raw, "error", None)
    if odata is not None:
        code = getattr(odata, "code", None) or code
        message = getattr(odata, "message", None) or message
        innererror = getattr(odata, "innererror", None) or {}
        inner = innererror.get("code", "") if isinstance(innererror, dict) else ""
    if isinstance(raw, ResourceNotFoundError) and code == "HttpError":
        code = "SecretNotFound"
    if 300 <= status < 400:
        code, message = "Redirected", "the vault answered with a redirect, not followed"
    return VaultError(code, message[:300], status, inner)


def _retry_after(raw: Exception) -> float | None:
    response = getattr(raw, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _unix(moment: Any) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def _vault_secret(properties: SecretProperties) -> VaultSecret:
    return VaultSecret(
        name=properties.name or "",
        enabled=bool(properties.enabled),
        updated=_unix(properties.updated_on),
        tags=dict(properties.tags or {}),
        content_type=properties.content_type,
        managed=bool(properties.managed),
    )
