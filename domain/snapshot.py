"""A sync's state as JSON text, so the read model can store it and evolve it.

Built on the library's own Snapshot (take / mutate), so that reconstructing a
sync from the view runs the same code as reconstructing it from a snapshot.
"""

from __future__ import annotations

import json
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Snapshot
from eventsourcing.utils import get_topic

from domain.secret_sync import SecretSync

_TIMES = ("_created_on", "_modified_on")


def encode(sync: SecretSync) -> str:
    state = dict(Snapshot.take(sync).state)
    for key in _TIMES:
        state[key] = state[key].isoformat()
    return json.dumps(state, sort_keys=True, separators=(",", ":"))


def decode(sync_id: UUID | str, version: int, text: str) -> SecretSync:
    state = json.loads(text)
    for key in _TIMES:
        state[key] = datetime.fromisoformat(state[key])
    snapshot = Snapshot(
        originator_id=UUID(str(sync_id)),
        originator_version=version,
        timestamp=state["_modified_on"],
        topic=get_topic(SecretSync),
        state=state,
    )
    sync = snapshot.mutate(None)
    assert isinstance(sync, SecretSync)
    return sync
