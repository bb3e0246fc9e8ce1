"""Wiring: event store, projection, gRPC server, health, reflection, shutdown."""

from __future__ import annotations

import logging
import os
import socket
import threading
from concurrent import futures
from datetime import timedelta

import grpc
from eventsourcing.persistence import InfrastructureFactory, TrackingRecorder
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from eventsourcing.utils import Environment
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2 as connection_api
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2_grpc as connection_grpc
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as source_api
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as source_grpc
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc
from hanzo.kms.secretsync.v1 import token_service_pb2 as token_api
from hanzo.kms.secretsync.v1 import token_service_pb2_grpc as token_grpc

from adapters.envelope import RootKey
from adapters.idempotency_store import (
    IdempotencyStore,
    PostgresIdempotencyStore,
    SQLiteIdempotencyStore,
)
from adapters.jwt_verifier import JwtSettings, JwtVerifier, describe_keys
from adapters.postgres_sync_view import PostgresSecretSyncView
from adapters.sqlite_sync_view import SQLiteSecretSyncView
from adapters.sync_view import SecretSyncView, SyncFilter
from service.audit_log import AuditLog
from service.auth_interceptor import AuthInterceptor
from service.authn import Authenticator
from service.auto_sync import AutoSync, SourceChanges
from service.config import Config
from service.connection_servicer import AzureConnectionServicer
from service.connections import AzureConnections
from service.followers import Followers
from service.idempotency import IdempotencyInterceptor
from service.interceptors import CallLogInterceptor
from service.job_runner import JobRunner
from service.leadership import Leadership, tables_made_one_at_a_time
from service.limits import StreamLimitInterceptor
from service.metrics import count_azure_requests
from service.metrics_server import MetricsEndpoint, ProjectionLag
from service.progress import Progress
from service.projection import SecretSyncProjection, latest_sync_event
from service.secret_sources import SecretSources
from service.secret_syncs import SecretSyncs
from service.service_tokens import ServiceTokens
from service.servicer import SecretSyncServicer
from service.source_servicer import SecretSourceServicer
from service.store_encryption import derived_store_key, encryption_env, refuse_unencrypted
from service.tls import TlsFiles, server_tls
from service.token_servicer import TokenServicer
from service.vaults import ConnectionVaults
from service.worker import SyncWorker

SERVICE_NAME = api.DESCRIPTOR.services_by_name["SecretSyncService"].full_name
SOURCE_SERVICE_NAME = source_api.DESCRIPTOR.services_by_name["SecretSourceService"].full_name
CONNECTION_SERVICE_NAME = connection_api.DESCRIPTOR.services_by_name[
    "AzureConnectionService"
].full_name
TOKEN_SERVICE_NAME = token_api.DESCRIPTOR.services_by_name["TokenService"].full_name
HEALTH_CHECK_SECONDS = 0.5
log = logging.getLogger("secretsync.server")
VIEW_POLL_SECONDS = 0.05


def worker_name() -> str:
    """Who claims jobs, as the log shows it: host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_postgres(config: Config) -> bool:
    return config.persistence_env()["PERSISTENCE_MODULE"].endswith("postgres")


def view_class(config: Config) -> type[SecretSyncView]:
    return PostgresSecretSyncView if is_postgres(config) else SQLiteSecretSyncView


def open_source_tracking(config: Config) -> TrackingRecorder:
    """Where auto-sync records how far it has followed the secret source's log."""
    tracking: type[TrackingRecorder] = (
        PostgresTrackingRecorder if is_postgres(config) else SQLiteTrackingRecorder
    )
    settings = {**os.environ, **config.persistence_env()}
    factory = InfrastructureFactory[TrackingRecorder].construct(
        env=Environment(SourceChanges.name, settings)
    )
    return factory.tracking_recorder(tracking)


def open_sync_view(config: Config, *, reset: bool = False) -> SecretSyncView:
    """The secret_syncs view, its tables made if need be.

    With `reset`, or when the view's table was made by an older version, the
    view is emptied first so the whole log is replayed into it.
    """
    # No tables made yet: an older view's table must be seen before it is touched.
    settings = {**os.environ, **config.persistence_env(), "CREATE_TABLE": "false"}
    factory = InfrastructureFactory[SecretSyncView].construct(
        env=Environment(SecretSyncProjection.name, settings)
    )
    view = factory.tracking_recorder(view_class(config))  # type: ignore[type-abstract]
    if reset or not view.is_current():
        if not reset:
            log.warning("the secret_syncs view has older columns: rebuilding it from the log")
        view.reset(SecretSyncs.name)
    view.create_table()
    return view


class SecretSyncServer:
    """The service: start() serves, stop() drains in-flight calls and closes storage."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.stopping = threading.Event()
        config.check_limits()
        config.auth_required()  # refuses auth "off" outside development mode, first
        # Before any store opens: refuses plaintext off loopback / outside development mode,
        # and unusable certificate files.
        self.tls: TlsFiles | None = server_tls(config)
        root_key = config.load_root_key()
        env = config.persistence_env()
        with tables_made_one_at_a_time(env):  # replicas may start together
            env = env | encryption_env(env, root_key)  # the store key: in env only
            self._open(config, env, root_key)
        self._refuse_unencrypted(config)
        self.port = 0
        self.projection_failed = False
        self._threads: list[threading.Thread] = []
        count_azure_requests()
        self.metrics = MetricsEndpoint(
            config.metrics_listen, ProjectionLag(self.app, self.view, self.projection)
        )

    def _open(self, config: Config, env: dict[str, str], root_key: RootKey) -> None:
        """Open the stores (making their tables if need be) and wire the parts."""
        self.view = open_sync_view(config)
        self.projection = SecretSyncProjection(self.view)
        self.progress: Progress = self.projection.progress
        self.app = SecretSyncs(env=env)
        self.progress.advance(self.view.max_tracking_id(self.app.name) or 0)
        self.sources = SecretSources(env=env)
        self.sources.root_key = root_key
        self.app.sources = self.sources
        self.connections = AzureConnections(env=env)
        self.connections.root_key = root_key
        self.app.connections = self.connections
        self.connections.users = self._syncs_using
        self.tokens = ServiceTokens(env=env)
        self.authenticator = self._authenticator(config)
        self.jobs = JobRunner(
            self.app,
            self.sources,
            ConnectionVaults(self.connections),
            worker_name(),
            lease=timedelta(seconds=config.job_lease_seconds),
        )
        self.worker: SyncWorker | None = None
        if config.run_jobs:
            self.worker = SyncWorker(self.jobs, self.view, self.progress, config.job_concurrency)
        self.source_changes = SourceChanges(open_source_tracking(config))
        self.auto_sync = AutoSync(self.source_changes, self.sources, self.app, self.view)
        self.audit = AuditLog(config)
        self.followers = Followers(
            [
                (SecretSyncs, self.projection),
                (SecretSources, self.source_changes),
                *self.audit.followed,
            ],
            env,
            on_failure=self._follower_failed,
        )
        self.leadership = Leadership(env, self._elected, self._deposed)
        self.health = health.HealthServicer()
        self.server = self._grpc_server(config)

    def _refuse_unencrypted(self, config: Config) -> None:
        applications = (self.app, self.sources, self.connections, self.tokens)
        try:
            refuse_unencrypted(config, applications)
        except Exception:
            for view in (self.view, self.source_changes.view):
                view.datastore.close()  # type: ignore[attr-defined]
            for application in applications:
                application.close()
            raise

    def _authenticator(self, config: Config) -> Authenticator | None:
        """Who is calling (docs/auth.md); None when authentication is off."""
        if not config.auth_required():  # refuses "off" outside development mode
            return None
        verifier = None
        if config.jwt_configured():
            verifier = JwtVerifier(
                JwtSettings(
                    issuer=config.jwt_issuer,
                    audience=config.jwt_audience,
                    public_key_file=config.jwt_public_key_file,
                    jwks_file=config.jwt_jwks_file,
                    leeway_seconds=config.jwt_leeway_seconds,
                )
            )
        certificates = self.tls.principal_of if self.tls is not None else None
        return Authenticator(self.tokens, verifier, certificates=certificates)

    def _idempotency(self) -> IdempotencyStore:
        """Request ids' first answers, kept in the view's database."""
        datastore = self.view.datastore  # type: ignore[attr-defined]
        if isinstance(datastore, PostgresDatastore):
            return PostgresIdempotencyStore(datastore)
        return SQLiteIdempotencyStore(datastore)

    def _fingerprint_key(self) -> bytes:
        # From the store key: replicas mid-rotation (other primaries) must agree.
        return derived_store_key(self.app.env, "request-fingerprints")

    def _grpc_server(self, config: Config) -> grpc.Server:
        """The gRPC server with our three services, health and reflection."""
        server = grpc.server(
            # A thread for every admitted call: a call is refused at the limit, never queued.
            futures.ThreadPoolExecutor(
                max_workers=config.max_concurrent_rpcs, thread_name_prefix="grpc"
            ),
            interceptors=[
                CallLogInterceptor(),
                StreamLimitInterceptor(config.max_streams),
                AuthInterceptor(self.authenticator),  # before a stored answer is replayed
                IdempotencyInterceptor(self._idempotency(), self._fingerprint_key()),
            ],
            maximum_concurrent_rpcs=config.max_concurrent_rpcs,
            options=[
                ("grpc.max_receive_message_length", config.max_message_bytes),
                ("grpc.max_send_message_length", config.max_message_bytes),
            ],
        )
        api_grpc.add_SecretSyncServiceServicer_to_server(
            SecretSyncServicer(
                self.app,
                self.view,
                self.progress,
                config.write_wait_seconds,
                self.stopping,
                self.projection.read_cache,
                self.jobs,
            ),
            server,
        )
        source_grpc.add_SecretSourceServiceServicer_to_server(
            SecretSourceServicer(self.sources), server
        )
        connection_grpc.add_AzureConnectionServiceServicer_to_server(
            AzureConnectionServicer(self.connections), server
        )
        token_grpc.add_TokenServiceServicer_to_server(
            TokenServicer(self.tokens, self._forget_tokens), server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        audit_name = self.audit.add_to_server(server, self.stopping)
        names = (
            SERVICE_NAME,
            SOURCE_SERVICE_NAME,
            CONNECTION_SERVICE_NAME,
            audit_name,
            TOKEN_SERVICE_NAME,
        )
        reflection.enable_server_reflection(
            (*names, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        return server

    def _forget_tokens(self) -> None:
        if self.authenticator is not None:
            self.authenticator.forget()

    def _syncs_using(self, project_id: str, connection_id: str) -> list[str]:
        """Up to five names of the project's syncs that use the connection."""
        rows = self.view.list_rows(SyncFilter(project_id, 5, connection_id=connection_id))
        return [row.name for row in rows]

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
        for view in (self.view, self.source_changes.view):
            view.datastore.close()  # type: ignore[attr-defined]
        for application in (self.app, self.sources, self.connections, self.tokens):
            application.close()
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

    # --- leading (service/leadership.py) ------------------------------------------

    def _elected(self) -> None:
        """This replica advances the projections now: its Get cache can be exact."""
        self.projection.read_cache.enable()
        self.followers.start()

    def _deposed(self) -> None:
        self.followers.stop()
        self.projection.read_cache.disable()

    def _follower_failed(self, name: str) -> None:
        """A follower that dies makes the service unhealthy, and another replica lead."""
        self.projection_failed = True
        self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        self.leadership.step_down()

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
