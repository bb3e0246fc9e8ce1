"""Unique names: a tiny aggregate per (scope, name) holds the claim.

Its id is derived from the scope and name, so two writers racing for one name
write version 1 of the same aggregate and the event store lets only one win.
Scopes: a project's sync names ("syncs:<project id>") and project slugs ("projects").
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.errors import NameTaken


def sync_names(project_id: str) -> str:
    return f"syncs:{project_id}"


PROJECT_SLUGS = "projects"


class NameClaim(Aggregate):
    """Which owner, if any, holds one name in one scope."""

    def __init__(self, scope: str, name: str) -> None:
        self.scope = scope
        self.name = name
        self.owner_id: str = ""

    @staticmethod
    def create_id(scope: str, name: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"hanzo-kms:name:{scope}/{name}")

    class Claimed(Aggregate.Event):
        owner_id: str

        def apply(self, claim: NameClaim) -> None:
            claim.owner_id = self.owner_id

    class Released(Aggregate.Event):
        def apply(self, claim: NameClaim) -> None:
            claim.owner_id = ""

    def claim(self, owner_id: str) -> None:
        if self.owner_id and self.owner_id != owner_id:
            raise NameTaken(f"the name {self.name!r} is taken ({self.scope})")
        if not self.owner_id:
            self.trigger_event(self.Claimed, owner_id=owner_id)

    def release(self, owner_id: str) -> None:
        if self.owner_id == owner_id:
            self.trigger_event(self.Released)
