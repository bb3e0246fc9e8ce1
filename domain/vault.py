"""The destination port: what the sync engine needs from a key vault.

Implemented in adapters/ with the Azure SDK; the engine and the planner only
know this. Errors carry Azure's error code and never a secret value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from domain.plan import VaultSecret


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
