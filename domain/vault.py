"""The destination port: what the sync engine needs from a key vault.

Implemented in adapters/ with the Azure SDK; the engine and the planner only
know this. Errors carry Azure's error code and never a secret value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from domain.plan import VaultSecret

# Key Vault's inner error codes the engine acts on.
BEING_DELETED = "ObjectIsBeingDeleted"  # a delete, recover or purge of the name is running
DELETED_BUT_RECOVERABLE = "ObjectIsDeletedButRecoverable"  # soft-deleted: recover or purge

# What the user must fix for each kind of 403, in the job message.
FORBIDDEN_FIXES = {
    "AccessDenied": "the vault's access policy does not give the connection's identity "
    "this secret permission (it needs get, list, set, delete and recover)",
    "ForbiddenByRbac": "the connection's identity has no Azure role allowing this on the "
    "vault or secret (assign e.g. Key Vault Secrets Officer)",
    "ForbiddenByFirewall": "the vault's firewall refuses this service's network address "
    "(allow it in the vault's networking rules, or use a private endpoint)",
    "ForbiddenByPolicy": "an Azure Policy assignment denies this operation on the vault",
    "SecretDisabled": "the secret is disabled in the vault",
}


class VaultError(Exception):
    """A vault request failed. `code` is Azure's (e.g. Forbidden, SecretNotFound)."""

    def __init__(self, code: str, message: str, status: int = 0, inner: str = "") -> None:
        self.code = code
        self.status = status
        self.inner = inner  # e.g. ObjectIsDeletedButRecoverable, SecretDisabled
        super().__init__(message)

    @property
    def transient(self) -> bool:
        return self.status in (0, 408, 429, 500, 502, 503, 504)

    def explain(self) -> str:
        """Why, for a job message: the code, and for a 403 what the user must fix."""
        fix = FORBIDDEN_FIXES.get(self.inner) if self.status == 403 else None
        if fix:
            return f"{self.code} ({self.inner}): {fix}"
        if self.status == 409 and self.inner:
            return f"{self.code} ({self.inner})"
        return self.code


class KeyVault(Protocol):
    def list_secrets(self) -> list[VaultSecret]:
        """Every secret's properties, all pages (no values)."""
        ...

    def get_value(self, name: str) -> str: ...

    def set_secret(self, name: str, value: str, tags: Mapping[str, str]) -> int | None:
        """Write a new version; returns the vault's `updated` time (unix seconds)."""
        ...

    def delete_secret(self, name: str) -> None: ...

    def recover_secret(self, name: str) -> None:
        """Recover a soft-deleted name and wait until it can be written."""
        ...

    def request_count(self) -> int:
        """Requests sent so far (for reports and benchmarks)."""
        ...
