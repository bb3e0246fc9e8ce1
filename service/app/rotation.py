"""`python -m service rotate-root-key`: move everything the root key wraps onto the
primary key, while the servers go on serving (docs/keys.md).

What the root key wraps: each project's data key, each Azure connection's data key,
and the event store's key. Each is re-wrapped by the primary key (a new event on the
project or connection, saved with the usual optimistic concurrency and retried on a
conflict; the store key row by compare-and-set). Nothing it protects is re-encrypted:
the data keys and the store key stay the same. Running it again re-wraps only what
is still wrapped by an older key, such as what a replica on an old configuration made
meanwhile; it ends by counting what is left.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TextIO
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.utils import get_topic

from adapters.envelope import RootKey
from adapters.store_key import rewrap_store_key, store_key_wrapped_by_primary
from domain.connection import AzureConnection
from domain.project import Project
from service.app.call_context import CallContext, new_request_id
from service.app.connections import AzureConnections
from service.app.secret_sources import SecretSources
from service.runtime.config import Config
from service.runtime.store_encryption import encryption_env, refuse_unencrypted

ROTATION_ACTOR = "rotate-root-key"
BATCH = 500
REPORT_EVERY = 100


@dataclass(frozen=True)
class Rotation:
    projects: int  # re-wrapped by this run
    connections: int
    store_key: bool
    remaining: int  # still wrapped by a key other than the primary


def rotate_root_key(config: Config, out: TextIO = sys.stderr) -> Rotation:
    """Re-wrap every wrapped key by the primary root key; report progress to `out`."""
    root_key = config.load_root_key()
    env = config.persistence_env()
    sources, connections = _open(config, env, root_key)
    try:
        refuse_unencrypted(config, (sources, connections))
        store_key = rewrap_store_key(env, root_key)
        done = "re-wrapped" if store_key else "already wrapped"
        out.write(f"store key: {done} by root key {root_key.key_id}\n")
        ctx = CallContext(ROTATION_ACTOR, new_request_id())
        projects = _rewrap_each(
            "projects",
            _originators(sources, Project.Created),
            lambda i: sources.rewrap_data_key(i, ctx),
            out,
        )
        connected = _rewrap_each(
            "connections",
            _originators(connections, AzureConnection.Created),
            lambda i: connections.rewrap_key(i, ctx),
            out,
        )
        remaining = _remaining(env, root_key, sources, connections)
    finally:
        sources.close()
        connections.close()
    out.write(f"{remaining} item(s) still wrapped by a root key other than {root_key.key_id}\n")
    return Rotation(projects, connected, store_key, remaining)


def _open(
    config: Config, env: dict[str, str], root_key: RootKey
) -> tuple[SecretSources, AzureConnections]:
    app_env = env | encryption_env(env, root_key)
    sources = SecretSources(env=app_env, root_key=root_key)
    connections = AzureConnections(env=app_env, root_key=root_key)
    return sources, connections


def _originators(app: Application, created: type) -> Iterator[UUID]:
    """The ids of every aggregate the Created event class made (deleted ones too)."""
    topics, position = [get_topic(created)], 0
    while True:
        batch = app.recorder.select_notifications(  # type: ignore[attr-defined]
            start=position, limit=BATCH, topics=topics, inclusive_of_start=False
        )
        if not batch:
            return
        for notification in batch:
            yield UUID(str(notification.originator_id))
        position = batch[-1].id


def _rewrap_each(
    kind: str, ids: Iterator[UUID], rewrap: Callable[[UUID], bool], out: TextIO
) -> int:
    seen = rewrapped = 0
    for aggregate_id in ids:
        seen += 1
        rewrapped += rewrap(aggregate_id)
        if seen % REPORT_EVERY == 0:
            out.write(f"{kind}: {seen} seen, {rewrapped} re-wrapped\n")
            out.flush()
    out.write(f"{kind}: {seen} seen, {rewrapped} re-wrapped\n")
    return rewrapped


def _remaining(
    env: dict[str, str],
    root_key: RootKey,
    sources: SecretSources,
    connections: AzureConnections,
) -> int:
    left = 0 if store_key_wrapped_by_primary(env, root_key) else 1
    for project_id in _originators(sources, Project.Created):
        left += not sources.data_key_is_primary(project_id)
    for connection_id in _originators(connections, AzureConnection.Created):
        left += not connections.key_is_primary(connection_id)
    return left
