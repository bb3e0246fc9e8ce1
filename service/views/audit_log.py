"""The audit log's read side: one view, one projection per audited application, and the
position that audit streams wait on."""

from __future__ import annotations

import logging
import os
from typing import Any

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.projection import Projection
from eventsourcing.utils import Environment

from adapters.audit_view import AuditView
from adapters.postgres_audit_view import PostgresAuditView
from adapters.sqlite_audit_view import SQLiteAuditView
from service.app.connections import AzureConnections
from service.app.secret_sources import SecretSources
from service.app.secret_syncs import SecretSyncs
from service.app.service_tokens import ServiceTokens
from service.runtime.config import Config
from service.views.audit_projection import (
    AuditProjection,
    ConnectionAudit,
    SecretSourceAudit,
    SecretSyncAudit,
    TokenAudit,
)
from service.views.progress import Progress

log = logging.getLogger("secretsync.audit")
FOLLOWED = (
    (SecretSyncs, SecretSyncAudit),
    (SecretSources, SecretSourceAudit),
    (AzureConnections, ConnectionAudit),
    (ServiceTokens, TokenAudit),
)


def open_audit_view(config: Config) -> AuditView:
    """The audit view of the configured store, its tables made if need be."""
    settings = {**os.environ, **config.persistence_env()}
    factory = InfrastructureFactory[AuditView].construct(
        env=Environment(AuditProjection.name, settings)
    )
    postgres = settings["PERSISTENCE_MODULE"].endswith("postgres")
    view_class = PostgresAuditView if postgres else SQLiteAuditView
    return factory.tracking_recorder(view_class)


class AuditLog:
    """The audit view and the projections of its followers (one shared view, so
    a process holds one audit connection pool, and one Progress that streams wait on).
    The server runs the followers while it leads (service/views/followers.py)."""

    def __init__(self, config: Config) -> None:
        self.view = open_audit_view(config)
        # The highest position this process knows to be committed: there at start, or
        # written by its followers since. Streams wait on it.
        self.progress = Progress()
        self.progress.advance(self.view.last_position())
        self.followed: list[tuple[type[Any], Projection[Any]]] = [
            (application_class, projection_class(self.view, self.progress))
            for application_class, projection_class in FOLLOWED
        ]

    def stop(self) -> None:
        """Release waiting streams, close storage (the followers are stopped already)."""
        self.progress.stop()
        self.view.datastore.close()  # type: ignore[attr-defined]
