"""Azure connection credentials: sealing them at rest, building SDK credentials from
them, and validating a connection against a vault with precise diagnostics.

Credentials are sealed with AES-256-GCM under a data key of the connection's own,
wrapped by the root key (adapters.envelope), with "connection:<id>" as associated
data, so a sealed blob cannot be replayed onto another connection. No message built
here ever contains a secret: only error codes and our own words.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.identity import (
    CertificateCredential,
    ClientSecretCredential,
    CredentialUnavailableError,
    ManagedIdentityCredential,
)
from azure.keyvault.secrets import SecretClient

from adapters.envelope import RootKey

AADSTS_RE = re.compile(r"AADSTS(\d+)")
TENANT_NOT_FOUND = {"90002", "90072"}
CLIENT_NOT_FOUND = {"700016"}
BAD_CLIENT_SECRET = {"7000215", "7000222"}
BAD_CERTIFICATE = {"700027", "700024", "7000274"}
DNS_FAILURES = (
    "Name or service not known",
    "getaddrinfo failed",
    "nodename nor servname",
    "Temporary failure in name resolution",
    "No address associated",
)
TIMEOUTS = {"connection_timeout": 10, "read_timeout": 20}


# --- sealing ------------------------------------------------------------------------


def _identity(connection_id: str) -> str:
    return f"connection:{connection_id}"


def seal_credentials(
    root_key: RootKey, connection_id: str, credentials: dict[str, str]
) -> tuple[str, str]:
    """(wrapped data key, sealed credentials) for a new connection."""
    identity = _identity(connection_id)
    wrapped = root_key.new_wrapped_data_key(identity)
    cipher = root_key.cipher_for(identity, wrapped)
    return wrapped, cipher.seal(json.dumps(credentials, sort_keys=True), identity)


def rewrap_credentials_key(root_key: RootKey, connection_id: str, wrapped: str) -> str:
    """A connection's data key, wrapped by the primary root key (its credentials unchanged)."""
    return root_key.rewrap_data_key(_identity(connection_id), wrapped)


def open_credentials(
    root_key: RootKey, connection_id: str, wrapped: str, sealed: str
) -> dict[str, str]:
    identity = _identity(connection_id)
    opened = root_key.cipher_for(identity, wrapped).open(sealed, identity)
    credentials: dict[str, str] = json.loads(opened)
    return credentials


# --- SDK credentials ----------------------------------------------------------------


def build_credential(
    auth_method: str,
    *,
    authority: str,
    tenant_id: str,
    client_id: str,
    secrets: dict[str, str],
    authority_override: str = "",
    connection_verify: str | None = None,
    **transport: Any,
) -> TokenCredential:
    """The azure-identity credential of a connection.

    `authority` is the cloud's sign-in host; an `authority_override` (development mode:
    an emulator) replaces it and turns instance discovery off, which would otherwise
    ask login.microsoftonline.com.
    """
    if connection_verify:
        transport["connection_verify"] = connection_verify
    transport["permit_redirects"] = False  # never send a client secret or assertion elsewhere
    if auth_method == "managed_identity":
        return ManagedIdentityCredential(client_id=client_id or None, **transport)
    if authority_override:
        transport.update(authority=authority_override, disable_instance_discovery=True)
    else:
        transport["authority"] = authority
    if auth_method == "client_secret":
        return ClientSecretCredential(tenant_id, client_id, secrets["client_secret"], **transport)
    if auth_method == "certificate":
        pem = secrets["certificate_pem"].strip() + "\n" + secrets["private_key_pem"].strip()
        return CertificateCredential(
            tenant_id, client_id, certificate_data=(pem + "\n").encode(), **transport
        )
    raise ValueError(f"unknown auth method {auth_method!r}")


# --- validation ---------------------------------------------------------------------


@dataclass(frozen=True)
class Validation:
    """`problem` is one of NONE, TENANT_NOT_FOUND, CLIENT_NOT_FOUND, INVALID_CLIENT_SECRET,
    INVALID_CERTIFICATE, AUTHENTICATION_FAILED, PERMISSION_DENIED, VAULT_NOT_FOUND,
    UNREACHABLE, VAULT_ERROR."""

    problem: str
    message: str

    @property
    def ok(self) -> bool:
        return self.problem == "NONE"


def validate(
    credential: TokenCredential,
    vault_url: str,
    *,
    scope: str,
    tenant_id: str,
    client_id: str,
    verify_challenge_resource: bool = True,
    connection_verify: str | None = None,
) -> Validation:
    """Get a token, then list one page of the vault's secrets; say what failed."""
    try:
        credential.get_token(scope)
    except Exception as error:
        return _token_problem(error, tenant_id, client_id)
    client = SecretClient(
        vault_url=vault_url,
        credential=credential,
        verify_challenge_resource=verify_challenge_resource,
        retry_total=0,
        permit_redirects=False,
        **({"connection_verify": connection_verify} if connection_verify else {}),
        **TIMEOUTS,
    )
    try:
        pages = client.list_properties_of_secrets(max_page_size=1).by_page()
        count = len(list(next(pages, [])))
    except Exception as error:
        return _vault_problem(error, vault_url)
    finally:
        client.close()
    return Validation(
        "NONE", f"signed in and listed {vault_url} ({count} secret(s) on the first page)"
    )


def _token_problem(error: Exception, tenant_id: str, client_id: str) -> Validation:
    text = str(error)
    codes = set(AADSTS_RE.findall(text))
    if codes & TENANT_NOT_FOUND or "Unable to get authority configuration" in text:
        return Validation(
            "TENANT_NOT_FOUND",
            f"tenant {tenant_id} was not found in this cloud: check the tenant id and the cloud",
        )
    if codes & CLIENT_NOT_FOUND:
        return Validation(
            "CLIENT_NOT_FOUND",
            f"no application with client id {client_id} exists in tenant {tenant_id}",
        )
    if codes & BAD_CLIENT_SECRET:
        return Validation(
            "INVALID_CLIENT_SECRET",
            f"the client secret of application {client_id} is wrong or expired "
            f"(AADSTS{min(codes & BAD_CLIENT_SECRET)}): use the secret's value, not its id",
        )
    if codes & BAD_CERTIFICATE or (
        isinstance(error, ValueError) and not isinstance(error, ClientAuthenticationError)
    ):
        return Validation(
            "INVALID_CERTIFICATE",
            f"the certificate is not accepted for application {client_id}"
            + (f" (AADSTS{min(codes)})" if codes else ""),
        )
    if isinstance(error, CredentialUnavailableError):
        return Validation(
            "AUTHENTICATION_FAILED", "no managed identity is available where the service runs"
        )
    if isinstance(error, ServiceRequestError) or _is_network(error):
        return Validation("UNREACHABLE", "the sign-in authority could not be reached")
    code = f" (AADSTS{min(codes)})" if codes else ""
    return Validation("AUTHENTICATION_FAILED", f"getting a token failed{code}")


def _vault_problem(error: Exception, vault_url: str) -> Validation:
    if isinstance(error, ServiceRequestError):
        if _is_dns_failure(error):
            return Validation("VAULT_NOT_FOUND", f"the vault {vault_url} does not exist (DNS)")
        return Validation("UNREACHABLE", f"the vault {vault_url} could not be reached")
    if isinstance(error, ClientAuthenticationError):
        return Validation(
            "AUTHENTICATION_FAILED",
            f"the vault {vault_url} refused the token: check the tenant of the vault",
        )
    if isinstance(error, ResourceNotFoundError):
        return Validation("VAULT_NOT_FOUND", f"the vault {vault_url} was not found")
    if isinstance(error, HttpResponseError) and error.status_code == 403:
        return Validation(
            "PERMISSION_DENIED",
            f"the identity is missing the permission secrets/list on {vault_url}: grant it "
            "'List' on secrets in an access policy, or the 'Key Vault Secrets User' role",
        )
    if isinstance(error, HttpResponseError):
        code = getattr(error.error, "code", None) or ""
        return Validation(
            "VAULT_ERROR", f"the vault {vault_url} answered {error.status_code} {code}".rstrip()
        )
    return Validation("UNREACHABLE", f"the vault {vault_url} could not be reached")


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _is_dns_failure(error: BaseException) -> bool:
    return any(
        isinstance(e, socket.gaierror) or any(s in str(e) for s in DNS_FAILURES)
        for e in _chain(error)
    )


def _is_network(error: BaseException) -> bool:
    return any(isinstance(e, (OSError, ServiceRequestError)) for e in _chain(error))
