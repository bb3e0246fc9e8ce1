"""Who a sync acts for: the principal that created (or last changed) it, and its grants.

A sync's jobs run as the service, but they push only what this owner may read: when
a job resolves the sync's folder (imports and references), every folder a key comes
from or refers to is checked against the owner's `read` grants (domain/resolve.py),
and a key from a folder the owner may not read is a problem key, never pushed.

The grants are recorded as they were when the owner created or updated the sync (a
snapshot, in the event): narrowing or revoking the owner's credential later does not
change what an existing sync may push until someone updates it, who then becomes its
owner with their own grants (docs/auth.md). A sync with no recorded owner (made
before owners were recorded, or with authentication off) is not narrowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain.permissions import READ, Grant, Principal, grants_as_dicts, parse_grants
from domain.resolve import Readable


@dataclass(frozen=True)
class SyncOwner:
    principal: str
    grants: tuple[Grant, ...]

    @classmethod
    def of(cls, principal: Principal) -> SyncOwner:
        return cls(principal.name, principal.grants)

    def to_dict(self) -> dict[str, Any]:
        return {"principal": self.principal, "grants": grants_as_dicts(self.grants)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> SyncOwner | None:
        """From an event; None for a sync without a recorded owner."""
        if not raw:
            return None
        grants, violations = parse_grants(list(raw.get("grants") or []))
        if violations:  # recorded from parsed grants: cannot happen; fail closed
            return cls(str(raw.get("principal", "")), ())
        return cls(str(raw.get("principal", "")), grants)

    def readable_in(self, project_id: str) -> Readable:
        """Whether the owner may read a folder (environment, path) of the project."""
        principal = Principal(self.principal, self.grants)

        def readable(environment: str, path: str) -> bool:
            return principal.may(READ, project_id, environment, path)

        return readable


def owner_readable(owner: SyncOwner | None, project_id: str) -> Readable | None:
    """What the jobs of a sync may read: None (everything) without an owner."""
    return None if owner is None else owner.readable_in(project_id)
