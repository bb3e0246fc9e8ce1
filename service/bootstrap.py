"""The composition root: every object of a server, built with its dependencies passed to
its constructor; nothing is set on an object after it is made.

`build(config)` checks the settings, opens the stores, builds the use cases, the jobs, the
views and the gRPC edge, and returns a `SecretSyncServer` (service/server.py) ready to
start. It is the only module that knows every layer.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from concurrent import futures
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.projection import Projection
from grpc_health.v1 import health, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from hanzo.kms.secretsync.v1 import audit_service_pb2_grpc as audit_grpc
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2_grpc as connection_grpc
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as source_grpc
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as sync_grpc
from hanzo.kms.secretsync.v1 import token_service_pb2_grpc as token_grpc

from adapters.envelope import RootKey
from adapters.idempotency_store import (
    IdempotencyStore,
    PostgresIdempotencyStore,
    SQLiteIdempotencyStore,
)
from adapters.jwt_verifier import JwtSettings, JwtVerifier
from adapters.postgres_pool import cap_reconnect_backoff
from adapters.replica_session import ReplicaSession
from adapters.store_lock import StoreLock
from adapters.sync_view import SecretSyncView, SyncFilter
from adapters.vault_budget import PostgresVaultBudget
from domain.retry_policy import RetryPolicy
from service.api.audit_servicer import AuditServicer
from service.api.auth_interceptor import AuthInterceptor
from service.api.authn import Authenticator
from service.api.call_log import CallLogInterceptor
from service.api.connection_servicer import AzureConnectionServicer
from service.api.idempotency import IdempotencyInterceptor
from service.api.limits import StreamLimitInterceptor
from service.api.source_servicer import SecretSourceServicer
from service.api.store_gate import StoreGateInterceptor
from service.api.sync_servicer import SecretSyncServicer
from service.api.tls import TlsFiles, server_tls
from service.api.token_servicer import TokenServicer
from service.app.connections import AzureConnections
from service.app.secret_sources import SecretSources
from service.app.secret_syncs import SecretSyncs
from service.app.service_tokens import ServiceTokens
from service.jobs.auto_sync import AutoSync, SourceChanges
from service.jobs.job_runner import JobRunner
from service.jobs.vaults import ConnectionVaults
from service.jobs.worker import SyncWorker
from service.runtime.config import Config
from service.runtime.metrics_server import MetricsEndpoint, ProjectionLag
from service.runtime.store_encryption import derived_store_key, encryption_env, refuse_unencrypted
from service.runtime.store_probe import StoreProbe
from service.runtime.supervisor import Supervisor
from service.server import SERVICE_NAMES, SecretSyncServer, Stores
from service.views.audit_log import AuditLog
from service.views.followers import Followers
from service.views.leadership import Leadership, tables_made_one_at_a_time
from service.views.stores import open_sync_view, open_tracking
from service.views.sync_projection import SecretSyncProjection

# This process, as its idempotency reservations name it (unique across restarts).
REPLICA = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def build(config: Config) -> SecretSyncServer:
    """A server for `config`; refuses (raises) on settings it cannot serve with."""
    config.check_limits()
    config.managed_identity_allowances()  # refuses a setting it cannot read, first
    config.auth_required()  # refuses auth "off" outside development mode, first
    # Before any store opens: refuses plaintext off loopback / outside development mode,
    # and unusable certificate files.
    tls = server_tls(config)
    root_key = config.load_root_key()
    env = config.persistence_env()
    cap_reconnect_backoff()  # pools reconnect within seconds of the store's return
    lock = hold_store(env)  # SQLite: one server per store, refused before anything opens
    try:
        with tables_made_one_at_a_time(env):  # replicas may start together
            env = env | encryption_env(env, root_key)  # the store key: in env only
            stores = open_stores(config, env, root_key, lock)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    try:
        refuse_unencrypted(config, stores.applications)
    except Exception:
        stores.close()
        raise
    return assemble(config, env, stores, tls)


def hold_store(env: dict[str, str]) -> StoreLock | None:
    if env["PERSISTENCE_MODULE"].endswith("postgres"):
        return None  # replicas share PostgreSQL by design
    return StoreLock.hold(Path(env["SQLITE_DBNAME"]))


def open_stores(
    config: Config, env: dict[str, str], root_key: RootKey, lock: StoreLock | None = None
) -> Stores:
    """The event-sourced applications and the views, their tables made if need be."""
    view = open_sync_view(config)
    sources = SecretSources(env=env, root_key=root_key)
    connections = AzureConnections(
        env=env,
        root_key=root_key,
        users=syncs_using(view),
        managed_identities=config.managed_identity_allowances(),
    )
    return Stores(
        syncs=SecretSyncs(env=env, sources=sources, connections=connections),
        sources=sources,
        connections=connections,
        tokens=ServiceTokens(env=env),
        view=view,
        source_changes=SourceChanges(open_tracking(config, SourceChanges.name), sources.repository),
        audit=AuditLog(config),
        lock=lock,
        # Replicas share PostgreSQL, and so each vault's request budget; SQLite is one process.
        vault_budget=(
            PostgresVaultBudget(env) if env["PERSISTENCE_MODULE"].endswith("postgres") else None
        ),
    )


def syncs_using(view: SecretSyncView):  # noqa: ANN201 (a closure's type says nothing more)
    def users(project_id: str, connection_id: str) -> list[str]:
        """Up to five names of the project's syncs that use the connection."""
        rows = view.list_rows(SyncFilter(project_id, 5, connection_id=connection_id))
        return [row.name for row in rows]

    return users


def assemble(
    config: Config, env: dict[str, str], stores: Stores, tls: TlsFiles | None
) -> SecretSyncServer:
    """Jobs, views and the gRPC edge around opened stores."""
    projection = SecretSyncProjection(stores.view)
    projection.progress.advance(stores.view.max_tracking_id(stores.syncs.name) or 0)
    jobs = JobRunner(
        stores.syncs,
        stores.sources,
        ConnectionVaults(stores.connections, stores.vault_budget),
        f"{socket.gethostname()}:{os.getpid()}",  # who claims jobs, as the log shows it
        lease=timedelta(seconds=config.job_lease_seconds),
        retries=RetryPolicy(
            first_delay=timedelta(seconds=config.job_retry_seconds),
            max_attempts=config.job_retries,
        ),
    )
    worker = None
    if config.run_jobs:
        worker = SyncWorker(jobs, stores.view, projection.progress, config.job_concurrency)
    followed: list[tuple[type[Any], Projection[Any]]] = [
        (SecretSyncs, projection),
        (SecretSources, stores.source_changes),
        *stores.audit.followed,
    ]
    followers = Followers(followed, env)
    authenticator = authenticator_of(config, stores.tokens, tls)
    stopping = threading.Event()
    health_servicer = health.HealthServicer()
    store_probe = StoreProbe(env)
    replica = ReplicaSession(env, REPLICA) if stores.lock is None else None  # PostgreSQL
    grpc_server = grpc_server_of(
        config, stores, projection, jobs, authenticator, health_servicer, stopping,
        store_probe, replica,
    )
    return SecretSyncServer(
        config,
        stores,
        tls=tls,
        projection=projection,
        jobs=jobs,
        worker=worker,
        auto_sync=AutoSync(stores.source_changes, stores.sources, stores.syncs, stores.view),
        leadership=Leadership(env, followers, projection.read_cache),
        authenticator=authenticator,
        health=health_servicer,
        server=grpc_server,
        stopping=stopping,
        metrics=MetricsEndpoint(
            config.metrics_listen, ProjectionLag(stores.syncs, stores.view, projection)
        ),
        supervisor=Supervisor(),
        store_probe=store_probe,
        replica=replica,
    )


def authenticator_of(
    config: Config, tokens: ServiceTokens, tls: TlsFiles | None
) -> Authenticator | None:
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
    certificates = tls.principal_of if tls is not None else None
    return Authenticator(tokens, verifier, certificates=certificates)


def idempotency_store(view: SecretSyncView, replica: ReplicaSession | None) -> IdempotencyStore:
    """Request ids' first answers, kept in the view's database; a reservation belongs to
    this replica while it lives."""
    datastore = view.datastore  # type: ignore[attr-defined]
    if isinstance(datastore, PostgresDatastore):
        assert replica is not None
        return PostgresIdempotencyStore(datastore, replica.owner, replica.gone)
    return SQLiteIdempotencyStore(datastore, REPLICA)


def grpc_server_of(
    config: Config,
    stores: Stores,
    projection: SecretSyncProjection,
    jobs: JobRunner,
    authenticator: Authenticator | None,
    health_servicer: health.HealthServicer,
    stopping: threading.Event,
    store_probe: StoreProbe,
    replica: ReplicaSession | None,
) -> grpc.Server:
    """The gRPC server with our services, health and reflection."""
    # From the store key: replicas mid-rotation (other primaries) must agree.
    fingerprint_key = derived_store_key(stores.syncs.env, "request-fingerprints")
    server = grpc.server(
        # A thread for every admitted call: a call is refused at the limit, never queued.
        futures.ThreadPoolExecutor(
            max_workers=config.max_concurrent_rpcs, thread_name_prefix="grpc"
        ),
        interceptors=[
            CallLogInterceptor(page_key=derived_store_key(stores.syncs.env, "page-tokens")),
            StreamLimitInterceptor(config.max_streams, config.max_stream_seconds),
            StoreGateInterceptor(store_probe),  # the store is down: UNAVAILABLE at once
            AuthInterceptor(authenticator),  # before a stored answer is replayed
            IdempotencyInterceptor(idempotency_store(stores.view, replica), fingerprint_key),
        ],
        maximum_concurrent_rpcs=config.max_concurrent_rpcs,
        options=[
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", config.max_message_bytes),
            ("grpc.so_reuseport", 0),  # a second server on a busy port is refused
        ],
    )
    sync_grpc.add_SecretSyncServiceServicer_to_server(
        SecretSyncServicer(
            stores.syncs,
            stores.view,
            projection.progress,
            config.write_wait_seconds,
            stopping,
            projection.read_cache,
            jobs,
            stores.connections.name_of,
        ),
        server,
    )
    source_grpc.add_SecretSourceServiceServicer_to_server(
        SecretSourceServicer(stores.sources), server
    )
    connection_grpc.add_AzureConnectionServiceServicer_to_server(
        AzureConnectionServicer(stores.connections), server
    )
    forget = authenticator.forget if authenticator is not None else (lambda: None)
    token_grpc.add_TokenServiceServicer_to_server(TokenServicer(stores.tokens, forget), server)
    audit_grpc.add_AuditServiceServicer_to_server(
        AuditServicer(stores.audit.view, stores.audit.progress, stopping), server
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    return server
