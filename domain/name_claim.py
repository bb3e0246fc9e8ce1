"""Names are unique per project: a tiny aggregate per (project, name) holds the claim.

Its id is derived from the project and name, so two creates racing for one name
write version 1 of the same aggregate and the event store lets only one win.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.errors import NameTaken


class NameClaim(Aggregate):
    """Which sync, if any, holds one name in one project."""

    def __init__(self, project_id: str, name: str) -> None:
        self.project_id = project_id
        self.name = name
        self.sync_id: str = ""

    @staticmethod
    def create_id(project_id: str, name: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"hanzo-kms:secret-sync-name:{project_id}/{name}")

    class Claimed(Aggregate.Event):
        sync_id: str

        def apply(self, claim: NameClaim) -> None:
            claim.sync_id = self.sync_id

    class Released(Aggregate.Event):
        def apply(self, claim: NameClaim) -> None:
            claim.sync_id = ""

    def claim(self, sync_id: str) -> None:
        if self.sync_id and self.sync_id != sync_id:
            raise NameTaken(f"the name {self.name!r} is taken in project {self.project_id}")
        if not self.sync_id:
            self.trigger_event(self.Claimed, sync_id=sync_id)

    def release(self, sync_id: str) -> None:
        if self.sync_id == sync_id:
            self.trigger_event(self.Released)
