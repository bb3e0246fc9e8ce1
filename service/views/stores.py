"""Opening the views' stores: the secret_syncs view, and the tracking records of followers
that keep no view of their own (auto-sync). SQLite or PostgreSQL, as the settings say."""

from __future__ import annotations

import logging
import os

from eventsourcing.persistence import InfrastructureFactory, TrackingRecorder
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from eventsourcing.utils import Environment

from adapters.postgres_sync_view import PostgresSecretSyncView
from adapters.sqlite_sync_view import SQLiteSecretSyncView
from adapters.sync_view import SecretSyncView
from service.app.secret_syncs import SecretSyncs
from service.runtime.config import Config
from service.views.sync_projection import SecretSyncProjection

log = logging.getLogger("secretsync.views")


def is_postgres(config: Config) -> bool:
    return config.persistence_env()["PERSISTENCE_MODULE"].endswith("postgres")


def view_class(config: Config) -> type[SecretSyncView]:
    return PostgresSecretSyncView if is_postgres(config) else SQLiteSecretSyncView


def open_tracking(config: Config, name: str) -> TrackingRecorder:
    """Where the follower called `name` records how far it has followed a log."""
    tracking: type[TrackingRecorder] = (
        PostgresTrackingRecorder if is_postgres(config) else SQLiteTrackingRecorder
    )
    settings = {**os.environ, **config.persistence_env()}
    factory = InfrastructureFactory[TrackingRecorder].construct(env=Environment(name, settings))
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
    view = factory.tracking_recorder(view_class(config))
    if reset or not view.is_current():
        if not reset:
            log.warning("the secret_syncs view has older columns: rebuilding it from the log")
        view.reset(SecretSyncs.name)
    view.create_table()
    return view
