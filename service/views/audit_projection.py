"""The audit projections: each audited event of an application becomes one audit row.

One projection class per application (each is fed only its own audited events,
by topic); all of them write the one audit view, which orders their rows.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

from adapters.audit_view import AuditView
from domain.audit import audited_events, describe
from domain.connection import AzureConnection
from domain.folder import Folder
from domain.project import Project
from domain.secret_sync import SecretSync
from domain.service_token import ServiceToken
from service.views.progress import Progress


def topics_of(*aggregates: Any) -> tuple[str, ...]:
    return tuple(get_topic(cls) for cls in audited_events(*aggregates))


class AuditProjection(Projection[AuditView]):
    name = "audit"  # names the PostgreSQL tracking table: audit_tracking

    def __init__(self, view: AuditView, progress: Progress | None = None) -> None:
        super().__init__(view)
        self.progress = progress or Progress()  # streams wait on it for new rows

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        position = self.view.record(describe(domain_event), tracking)
        if position is not None:
            self.progress.advance(position)


class SecretSyncAudit(AuditProjection):
    name = "audit"
    topics = topics_of(SecretSync)


class SecretSourceAudit(AuditProjection):
    name = "audit"
    topics = topics_of(Project, Folder)


class ConnectionAudit(AuditProjection):
    name = "audit"
    topics = topics_of(AzureConnection)


class TokenAudit(AuditProjection):
    name = "audit"
    topics = topics_of(ServiceToken)
