"""403 answers seeded by tests: Key Vault refuses for several reasons, each needing a
different fix from the user, and says which in the inner error code.

- AccessDenied: the vault's access policy lacks the permission (see principals.py for
  the permissions a principal holds; a denial here forces it);
- ForbiddenByRbac: an RBAC vault without a role assignment for the data action;
- ForbiddenByFirewall: the vault's network rules refuse the client's address;
- ForbiddenByPolicy: an Azure Policy assignment denies the operation.

A denial applies to one principal or all, one vault or all, some permissions or all,
and some secret names or all (RBAC roles can be assigned on a single secret).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from keyvault_emulator.principals import check_permissions

KINDS = ("AccessDenied", "ForbiddenByRbac", "ForbiddenByFirewall", "ForbiddenByPolicy")


@dataclass(frozen=True)
class Denial:
    code: str
    client_id: str | None = None  # None: every principal
    vault: str | None = None  # None: every vault
    permissions: frozenset[str] | None = None  # None: every operation
    names: frozenset[str] | None = None  # lowercase secret names; None: every name

    def applies(self, vault: str, client_id: str, permission: str, name: str) -> bool:
        return (
            (self.client_id is None or self.client_id == client_id.lower())
            and (self.vault is None or self.vault == vault.lower())
            and (self.permissions is None or permission in self.permissions)
            and (self.names is None or name.lower() in self.names)
        )

    def describe(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "client_id": self.client_id,
            "vault": self.vault,
            "permissions": sorted(self.permissions) if self.permissions is not None else None,
            "names": sorted(self.names) if self.names is not None else None,
        }


def denial(
    code: str,
    *,
    client_id: str | None = None,
    vault: str | None = None,
    permissions: Iterable[str] | None = None,
    names: Iterable[str] | None = None,
) -> Denial:
    """A checked Denial; a ValueError names what is wrong."""
    if code not in KINDS:
        raise ValueError(f"unknown denial code {code!r}; known: {list(KINDS)}")
    return Denial(
        code=code,
        client_id=client_id.lower() if client_id else None,
        vault=vault.lower() if vault else None,
        permissions=check_permissions(permissions) if permissions is not None else None,
        names=frozenset(n.lower() for n in names) if names is not None else None,
    )


class Denials:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._denials: list[Denial] = []

    def add(self, new: Denial) -> None:
        with self._lock:
            self._denials.append(new)

    def clear(self) -> None:
        with self._lock:
            self._denials.clear()

    def find(self, vault: str, client_id: str, permission: str, name: str) -> Denial | None:
        """The first seeded denial that applies, if any."""
        with self._lock:
            return next(
                (d for d in self._denials if d.applies(vault, client_id, permission, name)), None
            )

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [d.describe() for d in self._denials]
