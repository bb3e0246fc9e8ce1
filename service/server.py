"""Wiring: event store, projection, gRPC server, health, reflection, shutdown."""

from __future__ import annotations

import logging
import os
import threading
from concurrent import futures

import grpc
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.projection import ProjectionRunner
from eventsourcing.utils import Environment
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from adapters.postgres_sync_view import PostgresSecretSyncView
from adapters.sqlite_sync_view import SQLiteSecretSyncView
from adapters.sync_view import SecretSyncView
from service.config import Config
from service.interceptors import CallLogInterceptor
from service.projection import SecretSyncProjection
from service.secret_syncs import SecretSyncs
from service.servicer import SecretSyncServicer

SERVICE_NAME = api.DESCRIPTOR.services_by_name["SecretSyncService"].full_name
HEALTH_CHECK_SECONDS = 0.5
log = logging.getLogger("secretsync.server")


def view_class(config: Config) -> type[SecretSyncView]:
    module = config.persistence_env()["PERSISTENCE_MODULE"]
    return PostgresSecretSyncView if module.endswith("postgres") else SQLiteSecretSyncView


def start_projection(
    config: Config, *, reset: bool = False
) -> ProjectionRunner[SecretSyncs, SecretSyncView]:
    """Open the event store and start following it into the view.

    With `reset`, the view is emptied first so the whole log is replayed.
    """
    if reset:
        env = Environment(SecretSyncProjection.name, {**os.environ, **config.persistence_env()})
        factory = InfrastructureFactory[SecretSyncView].construct(env=env)
        factory.tracking_recorder(view_class(config)).reset(SecretSyncs.name)  # type: ignore[type-abstract]
        factory.close()
    runner: ProjectionRunner[SecretSyncs, SecretSyncView] = ProjectionRunner(
        application_class=SecretSyncs,
        projection_class=SecretSyncProjection,
        view_class=view_class(config),  # type: ignore[type-abstract]
        env=config.persistence_env(),
    )
    runner.__enter__()
    already = runner.view.max_tracking_id(runner.app.name) or 0
    runner.projection.progress.advance(already)  # type: ignore[attr-defined]
    return runner


class SecretSyncServer:
    """The service: start() serves, stop() drains in-flight calls and closes storage."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.stopping = threading.Event()
        self.runner = start_projection(config)
        self.app: SecretSyncs = self.runner.app
        self.view: SecretSyncView = self.runner.view
        self.progress = self.runner.projection.progress  # type: ignore[attr-defined]
        self.health = health.HealthServicer()
        self.server = grpc.server(
            futures.ThreadPoolExecutor(
                max_workers=config.max_workers, thread_name_prefix="grpc"
            ),
            interceptors=[CallLogInterceptor()],
            maximum_concurrent_rpcs=config.max_concurrent_rpcs,
        )
        api_grpc.add_SecretSyncServiceServicer_to_server(
            SecretSyncServicer(
                self.app, self.view, self.progress, config.write_wait_seconds, self.stopping
            ),
            self.server,
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server
        )
        self.port = 0
        self.projection_failed = False
        self._threads: list[threading.Thread] = []

    def start(self) -> int:
        self.port = self.server.add_insecure_port(self.config.listen)
        if not self.port:
            raise OSError(f"cannot listen on {self.config.listen}")
        self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        self.server.start()
        for target in (self._watch_health, self._watch_projection):
            thread = threading.Thread(target=target, daemon=True, name=target.__name__)
            thread.start()
            self._threads.append(thread)
        log.info(
            "serving on %s (port %s), store %s%s",
            self.config.listen,
            self.port,
            self.config.safe_database_url(),
            ", development mode" if self.config.dev_mode else "",
        )
        return self.port

    def stop(self, grace: float | None = None) -> None:
        """Refuse new calls, let in-flight ones finish, then close storage."""
        if self.stopping.is_set():
            return
        grace = self.config.grace_seconds if grace is None else grace
        log.info("shutting down: draining calls for up to %ss", grace)
        self.stopping.set()
        self.health.enter_graceful_shutdown()
        self.progress.wake_all()
        self.server.stop(grace).wait()
        self.progress.stop()
        self.runner.__exit__(None, None, None)
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
        target = None
        while not self.stopping.wait(HEALTH_CHECK_SECONDS):
            try:
                latest = self.app.recorder.max_notification_id() or 0
                projected = self.view.max_tracking_id(self.app.name) or 0
                healthy = (
                    target is not None and projected >= target and not self.projection_failed
                )
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

    def _watch_projection(self) -> None:
        """A projection that dies makes the service unhealthy, loudly."""
        try:
            self.runner.run_forever()
        except Exception:
            self.projection_failed = True
            log.exception("the secret_syncs projection stopped")
            self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
