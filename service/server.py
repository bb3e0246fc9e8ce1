"""A built server (service/bootstrap.py makes it) running: the gRPC server, the worker,
auto-sync, leadership and its followers, health, metrics, and an orderly shutdown."""

from __future__ import annotations

import errno
import logging
import socket
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
from adapters.replica_session import ReplicaSession
from adapters.store_lock import StoreLock
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
from service.runtime.store_probe import StoreProbe
from service.runtime.supervisor import Supervisor
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
    lock: StoreLock | None = None  # SQLite: this process's hold on the store
    vault_budget: PostgresVaultBudget | None = None  # every replica's requests to a vault

    @property
    def applications(self) -> tuple[Any, ...]:
        return (self.syncs, self.sources, self.connections, self.tokens)

    def refresh_pools(self) -> None:
        """The store is back: replace broken pooled connections now, rather than when each
        pool's reconnection backoff (grown during the outage) next tries."""
        views = (self.view, self.source_changes.view, self.audit.view)
        recorders = [application.recorder for application in self.applications]
        for holder in (*views, *recorders):
            pool = getattr(getattr(holder, "datastore", None), "pool", None)
            if pool is not None and hasattr(pool, "check"):
                try:
                    pool.check()
                except Exception as error:  # best effort: the pool heals by itself later
                    log.debug("checking a pool failed: %s", type(error).__name__)

    def close(self) -> None:
        for view in (self.view, self.source_changes.view):
            view.datastore.close()  # type: ignore[attr-defined]
        for application in self.applications:
            application.close()
        if self.vault_budget is not None:
            self.vault_budget.close()
        if self.lock is not None:
            self.lock.release()  # last: the store is another server's only once closed


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
        supervisor: Supervisor,
        store_probe: StoreProbe,
        replica: ReplicaSession | None = None,
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
        self.supervisor = supervisor
        self.store_probe = store_probe
        self.replica = replica
        self.port = 0
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
        """A follower died here and has not been restarted yet: NOT_SERVING meanwhile."""
        return self.leadership.follower_failed or any(
            name == "leadership" for name in self.supervisor.down
        )

    def start(self) -> int:
        try:
            self.port = self._listen()
        except BaseException:
            self.stores.close()  # a server that cannot serve leaves the store to others
            raise
        self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        self.server.start()
        self.metrics.start()
        self.store_probe.on_change.append(self._store_reachable)
        self.leadership.start()  # SQLite leads at once; PostgreSQL in its supervised run
        self.supervisor.add("store-probe", self.store_probe.run)
        if self.replica is not None:
            self.supervisor.add("replica-session", self.replica.keep)
        self.supervisor.add("health", self._watch_health)
        self.supervisor.add("leadership", self.leadership.run, self.leadership.recover)
        self.supervisor.add("auto-sync", self.auto_sync.run)
        if self.worker is not None:
            self.supervisor.add("worker", self.worker.run)
        self.supervisor.add("view-follower", self._follow_view)
        self.supervisor.start()
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

    def _listen(self) -> int:
        """Bind the port, alone (grpc.so_reuseport is off): a port in use is refused."""
        refuse_busy_port(self.config.listen)
        try:
            if self.tls is not None:
                port = self.server.add_secure_port(self.config.listen, self.tls.credentials())
            else:
                port = self.server.add_insecure_port(self.config.listen)
        except RuntimeError:
            port = 0
        if not port:
            raise PortInUse(f"cannot listen on {self.config.listen}: the address is in use")
        return int(port)

    def _store_reachable(self, reachable: bool) -> None:
        """The probe's news, at once: the health loop may be waiting on a dead store."""
        if not reachable:
            self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        else:
            self.stores.refresh_pools()
            self.supervisor.retry_now()

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
        self.supervisor.stop()  # every background loop ends
        if self.worker is not None:
            self.worker.stop()
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

    def _watch_health(self, stopping: threading.Event) -> None:
        """SERVING while storage answers, no background part is down, and the view has
        caught up with the log; on every replica, leader or not.

        'Caught up' means it has projected every event that existed one check
        ago, so steady writes do not make the status flap.
        """
        target, latest = None, 0
        while not (stopping.wait(HEALTH_CHECK_SECONDS) or self.stopping.is_set()):
            healthy = False
            if not self.store_probe.reachable:
                target = None
            else:
                try:
                    latest = latest_sync_event(self.app.recorder, latest)
                    projected = self.view.max_tracking_id(self.app.name) or 0
                    healthy = target is not None and projected >= target
                    target = latest
                except Exception as error:
                    log.debug("storage check failed: %s", type(error).__name__)
                    target = None
            healthy = healthy and not (
                self.projection_failed or self.supervisor.down or self.store_probe.full
            )
            if not self.stopping.is_set():
                self._set_health(
                    health_pb2.HealthCheckResponse.SERVING
                    if healthy
                    else health_pb2.HealthCheckResponse.NOT_SERVING
                )

    def _follow_view(self, stopping: threading.Event) -> None:
        """While another replica advances the view, notice its progress: writers here
        wait for their write to be readable, watchers for their sync to change. A failure
        to read raises: the supervisor restarts this after a backoff."""
        while not stopping.wait(VIEW_POLL_SECONDS):
            if self.leadership.leading or not self.store_probe.reachable:
                continue
            self.progress.advance_all(self.view.max_tracking_id(self.app.name) or 0)


class PortInUse(OSError):
    """The listen address is taken (by another server, most likely): one line, exit 2."""


def refuse_busy_port(listen: str) -> None:
    """Bind the address as gRPC will (no SO_REUSEPORT) and let go: in use, refuse before
    gRPC's own multi-line complaint."""
    host, _, port = listen.rpartition(":")
    if not port.isdigit() or int(port) == 0:
        return
    host = host.strip("[]") or "::"
    for family, kind, proto, _, address in socket.getaddrinfo(
        host, int(port), type=socket.SOCK_STREAM
    ):
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    raise PortInUse(
                        f"cannot listen on {listen}: the address is in use "
                        "(another server?); one server per port"
                    ) from None
