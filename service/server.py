"""A built server (service/bootstrap.py makes it) running: the gRPC server, the worker,
auto-sync, leadership and its followers, health, metrics, and an orderly shutdown."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2
from hanzo.kms.secretsync.v1 import audit_service_pb2 as audit_api
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2 as connection_api
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as source_api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import token_service_pb2 as token_api

from adapters.jwt_verifier import describe_keys
from adapters.sync_view import SecretSyncView
from adapters.vault_budget import PostgresVaultBudget
from service.api.authn import Authenticator
from service.api.tls import TlsFiles
from service.app.connections import AzureConnections
from service.app.secret_sources import SecretSources
from service.app.secret_syncs import SecretSyncs
from service.app.service_tokens import ServiceTokens
from service.jobs.auto_sync import AutoSync, SourceChanges
from service.jobs.job_runner import JobRunner
from service.jobs.worker import SyncWorker
from service.runtime.config import Config
from service.runtime.metrics import count_azure_requests
from service.runtime.metrics_server import MetricsEndpoint
from service.views.audit_log import AuditLog
from service.views.leadership import Leadership
from service.views.sync_projection import SecretSyncProjection, latest_sync_event


def _service_name(module: Any, name: str) -> str:
    return str(module.DESCRIPTOR.services_by_name[name].full_name)


SERVICE_NAME = _service_name(api, "SecretSyncService")
SERVICE_NAMES = (
    SERVICE_NAME,
    _service_name(source_api, "SecretSourceService"),
    _service_name(connection_api, "AzureConnectionService"),
    _service_name(audit_api, "AuditService"),
    _service_name(token_api, "TokenService"),
)
HEALTH_CHECK_SECONDS = 0.5
VIEW_POLL_SECONDS = 0.05
log = logging.getLogger("secretsync.server")


@dataclass(frozen=True)
class Stores:
    """The event-sourced applications and the views over them: what a server closes last."""

    syncs: SecretSyncs
    sources: SecretSources
    connections: AzureConnections
    tokens: ServiceTokens
    view: SecretSyncView
    source_changes: SourceChanges
    audit: AuditLog
    vault_budget: PostgresVaultBudget | None = None  # every replica's requests to a vault

    @property
    def applications(self) -> tuple[Any, ...]:
        return (self.syncs, self.sources, self.connections, self.tokens)

    def close(self) -> None:
        for view in (self.view, self.source_changes.view):
            view.datastore.close()  # type: ignore[attr-defined]
        for application in self.applications:
            application.close()
        if self.vault_budget is not None:
            self.vault_budget.close()


class SecretSyncServer:
    """The service: start() serves, stop() drains in-flight calls and closes storage."""

    def __init__(
        self,
        config: Config,
        stores: Stores,
        *,
        tls: TlsFiles | None,
        projection: SecretSyncProjection,
        jobs: JobRunner,
        worker: SyncWorker | None,
        auto_sync: AutoSync,
        leadership: Leadership,
        authenticator: Authenticator | None,
        health: health.HealthServicer,
        server: grpc.Server,
        stopping: threading.Event,
        metrics: MetricsEndpoint,
    ) -> None:
        self.config = config
        self.stores = stores
        self.tls = tls
        self.projection = projection
        self.jobs = jobs
        self.worker = worker
        self.auto_sync = auto_sync
        self.leadership = leadership
        self.authenticator = authenticator
        self.health = health
        self.server = server
        self.stopping = stopping
        self.metrics = metrics
        self.port = 0
        self._threads: list[threading.Thread] = []
        count_azure_requests()

    # The parts tests and operators reach through the server.
    @property
    def app(self) -> SecretSyncs:
        return self.stores.syncs

    @property
    def sources(self) -> SecretSources:
        return self.stores.sources

    @property
    def connections(self) -> AzureConnections:
        return self.stores.connections

    @property
    def tokens(self) -> ServiceTokens:
        return self.stores.tokens

    @property
    def view(self) -> SecretSyncView:
        return self.stores.view

    @property
    def source_changes(self) -> SourceChanges:
        return self.stores.source_changes

    @property
    def audit(self) -> AuditLog:
        return self.stores.audit

    @property
    def progress(self) -> Any:
        return self.projection.progress

    @property
    def projection_failed(self) -> bool:
        """A follower died here: this replica stepped down and reports NOT_SERVING."""
        return self.leadership.follower_failed

    def start(self) -> int:
        if self.tls is not None:
            self.port = self.server.add_secure_port(self.config.listen, self.tls.credentials())
        else:
            self.port = self.server.add_insecure_port(self.config.listen)
        if not self.port:
            raise OSError(f"cannot listen on {self.config.listen}")
        self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        self.server.start()
        self.metrics.start()
        self.auto_sync.start()
        if self.worker is not None:
            self.worker.start()
        self.leadership.start()
        for target in (self._watch_health, self._follow_view):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info(
            "serving on %s (port %s), store %s%s",
            self.config.listen,
            self.port,
            self.config.safe_database_url(),
            ", development mode" if self.config.dev_mode else "",
        )
        self._log_transport()
        self._log_auth()
        return self.port

    def _log_transport(self) -> None:
        if self.tls is None:
            log.warning(
                "PLAINTEXT gRPC on %s (no SECRET_SYNC_TLS_CERT_FILE, development mode, loopback "
                "only): calls and their credentials are not encrypted. Never like this with "
                "real secrets.",
                self.config.listen,
            )
            return
        log.info(
            "TLS: server certificate %s; %s",
            self.tls.loaded.description,
            self.tls.client_certificates(),
        )

    def _log_auth(self) -> None:
        if self.authenticator is None:
            log.warning(
                "AUTHENTICATION IS OFF (SECRET_SYNC_AUTH=off, development mode): every caller "
                "may do everything, as 'anonymous'. Never run like this with real secrets."
            )
            return
        jwt = self.authenticator.jwt
        log.info(
            "authentication required: service tokens%s",
            f", JWTs {describe_keys(jwt.settings)}" if jwt is not None else "",
        )

    def stop(self, grace: float | None = None) -> None:
        """Refuse new calls, let in-flight ones finish, then close storage."""
        if self.stopping.is_set():
            return
        grace = self.config.grace_seconds if grace is None else grace
        log.info("shutting down: draining calls for up to %ss", grace)
        self.stopping.set()
        self.health.enter_graceful_shutdown()
        self.progress.release_watchers()
        self.server.stop(grace).wait()
        if self.worker is not None:
            self.worker.stop()
        self.auto_sync.stop()
        self.progress.stop()
        self.metrics.stop()  # before storage closes: scrapes read the projection's lag
        self.leadership.stop()  # stops the followers, if this replica led
        self.audit.stop()
        self.stores.close()
        log.info("stopped")

    def wait(self) -> None:
        self.server.wait_for_termination()

    # --- health ----------------------------------------------------------------

    def _set_health(self, status: int) -> None:
        for name in ("", SERVICE_NAME):
            self.health.set(name, status)

    def _watch_health(self) -> None:
        """SERVING while storage answers and the view has caught up with the log.

        'Caught up' means it has projected every event that existed one check
        ago, so steady writes do not make the status flap.
        """
        target, latest = None, 0
        while not self.stopping.wait(HEALTH_CHECK_SECONDS):
            try:
                latest = latest_sync_event(self.app.recorder, latest)
                projected = self.view.max_tracking_id(self.app.name) or 0
                healthy = target is not None and projected >= target and not self.projection_failed
                target = latest
            except Exception as error:
                log.warning("storage check failed: %s", type(error).__name__)
                healthy, target = False, None
            if not self.stopping.is_set():
                self._set_health(
                    health_pb2.HealthCheckResponse.SERVING
                    if healthy
                    else health_pb2.HealthCheckResponse.NOT_SERVING
                )

    def _follow_view(self) -> None:
        """While another replica advances the view, notice its progress: writers here
        wait for their write to be readable, watchers for their sync to change."""
        while not self.stopping.wait(VIEW_POLL_SECONDS):
            if self.leadership.leading:
                continue
            try:
                self.progress.advance_all(self.view.max_tracking_id(self.app.name) or 0)
            except Exception as error:
                log.warning("reading the view's position failed: %s", type(error).__name__)
