"""The names shown in a sync's ConnectionSummary, looked up by connection id."""

from __future__ import annotations

from collections.abc import Callable


class ConnectionNames:
    """Connection names by id, for ConnectionSummary.name. A connection is never
    renamed, so a name once found is kept (a few thousand at most); a deleted one
    reads as ""."""

    LIMIT = 4096

    def __init__(self, lookup: Callable[[str], str]) -> None:
        self.lookup = lookup
        self.known: dict[str, str] = {}

    def __call__(self, connection_id: str) -> str:
        name = self.known.get(connection_id)
        if name is None:
            name = self.lookup(connection_id)
            if name:
                if len(self.known) >= self.LIMIT:
                    self.known.clear()
                self.known[connection_id] = name
        return name
