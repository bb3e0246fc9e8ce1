"""Service principals (client id + secret) and the secret permissions each holds.

Permissions mirror Key Vault access policies for secrets. Changes take effect on the next
request (the real service may take a while to apply a policy change).
"""

from __future__ import annotations

import hmac
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

PERMISSIONS = frozenset({"list", "get", "set", "delete", "recover", "purge", "backup", "restore"})


@dataclass(frozen=True)
class Principal:
    client_id: str
    client_secret: str
    permissions: frozenset[str]
    object_id: str

    def may(self, permission: str) -> bool:
        return permission in self.permissions

    def secret_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self.client_secret.encode())


def check_permissions(permissions: Iterable[str] | None) -> frozenset[str]:
    """All permissions when None; a ValueError names any unknown one."""
    if permissions is None:
        return PERMISSIONS
    chosen = frozenset(p.lower() for p in permissions)
    unknown = chosen - PERMISSIONS
    if unknown:
        raise ValueError(f"unknown permissions: {sorted(unknown)}; known: {sorted(PERMISSIONS)}")
    return chosen


class Principals:
    """The registered applications, by client id (case-insensitive, as GUIDs are)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, Principal] = {}

    def add(
        self, client_id: str, client_secret: str, permissions: Iterable[str] | None = None
    ) -> Principal:
        """Register or replace a principal; permissions default to all of them."""
        with self._lock:
            old = self._by_id.get(client_id.lower())
            principal = Principal(
                client_id=client_id,
                client_secret=client_secret,
                permissions=check_permissions(permissions),
                object_id=old.object_id if old else str(uuid.uuid4()),
            )
            self._by_id[client_id.lower()] = principal
            return principal

    def set_permissions(self, client_id: str, permissions: Iterable[str] | None) -> Principal:
        with self._lock:
            old = self._by_id[client_id.lower()]
            new = Principal(
                old.client_id, old.client_secret, check_permissions(permissions), old.object_id
            )
            self._by_id[client_id.lower()] = new
            return new

    def get(self, client_id: str) -> Principal | None:
        with self._lock:
            return self._by_id.get(client_id.lower())

    def remove(self, client_id: str) -> None:
        with self._lock:
            self._by_id.pop(client_id.lower(), None)

    def describe(self) -> list[dict[str, object]]:
        """For the admin endpoint: never the secrets."""
        with self._lock:
            return [
                {"client_id": p.client_id, "permissions": sorted(p.permissions)}
                for p in self._by_id.values()
            ]
