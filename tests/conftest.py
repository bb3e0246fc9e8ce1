"""Shared fixtures: real servers on real sockets, over SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import psycopg
import pytest
from hanzo.kms.secretsync.v1 import azure_connection_pb2 as connection_pb
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2 as connection_api
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2_grpc as connection_grpc
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as source_api
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as source_grpc
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from adapters.envelope import RootKey
from service.bootstrap import build
from service.runtime.config import Config
from service.server import SecretSyncServer
from tests.tls_helpers import shared_pki

POSTGRES_ADMIN_URL = os.environ.get(
    "SECRET_SYNC_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


TEST_ROOT_KEY = RootKey.generate_text()


def postgres_schema_url() -> Iterator[str]:
    """A fresh schema in the test database, dropped afterwards."""
    schema = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{POSTGRES_ADMIN_URL}?schema={schema}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty event store: a SQLite file or a PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/store.sqlite"
    else:
        yield from postgres_schema_url()


def start_server(database_url: str, **overrides: object) -> SecretSyncServer:
    """A server in development mode: authentication is off unless the test turns it on
    (auth="required"), or leaves development mode (dev_mode=False: see admin_channel).
    Outside development mode it must serve TLS: pass `**shared_pki().server_config()`
    (tests/tls_helpers.py)."""
    config = Config(
        listen="127.0.0.1:0",
        database_url=database_url,
        dev_mode=True,
        grace_seconds=2.0,
        # Read-your-writes waits this long for the view; on a loaded 2-core machine a
        # PostgreSQL projection has lagged past the default 5 s, and a Get right after a
        # Create then missed the sync.
        write_wait_seconds=20.0,
        root_key=TEST_ROOT_KEY,
        run_jobs=False,  # jobs stay pending unless a test starts the worker itself
    )
    server = build(Config(**{**config.__dict__, **overrides}))
    server.start()
    return server


class Bearer(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds `authorization: Bearer <token>` to every call of a channel."""

    def __init__(self, token: str) -> None:
        self.header = ("authorization", f"Bearer {token}")

    def _with_token(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        return details._replace(metadata=[*(details.metadata or ()), self.header])  # type: ignore[attr-defined]

    def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._with_token(details), request)

    def intercept_unary_stream(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._with_token(details), request)


def admin_channel(server: SecretSyncServer) -> grpc.Channel:
    """A channel to a server with authentication on, every call carrying an admin token;
    over TLS trusting the shared test CA when the server serves TLS."""
    from datetime import timedelta

    from service.app.call_context import CallContext

    _, token = server.tokens.create(
        "test-admin-" + uuid.uuid4().hex[:8],
        "test-admin",
        [{"project": "*", "actions": ["admin"]}],
        timedelta(hours=1),
        CallContext("bootstrap", new_id()),
    )
    if server.tls is not None:
        channel = shared_pki().channel(server.port)
    else:
        channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    return grpc.intercept_channel(channel, Bearer(token))


@pytest.fixture
def server(database_url: str) -> Iterator[SecretSyncServer]:
    server = start_server(database_url)
    yield server
    server.stop(grace=1.0)


@pytest.fixture
def channel(server: SecretSyncServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield channel


@pytest.fixture
def stub(channel: grpc.Channel) -> api_grpc.SecretSyncServiceStub:
    return api_grpc.SecretSyncServiceStub(channel)


@pytest.fixture
def source_stub(channel: grpc.Channel) -> source_grpc.SecretSourceServiceStub:
    return source_grpc.SecretSourceServiceStub(channel)


def event_count(server: SecretSyncServer) -> int:
    """How many events the store holds, of every application (syncs, sources,
    connections, tokens)."""
    if not is_split(server):
        return server.app.recorder.max_notification_id() or 0
    apps = (server.app, server.sources, server.connections, server.tokens)
    return sum(app.recorder.max_notification_id() or 0 for app in apps)


def is_split(server: SecretSyncServer) -> bool:
    """PostgreSQL keeps each application's events in its own table; SQLite shares one."""
    return server.config.database_url.startswith("postgres")


def new_project(
    channel: grpc.Channel, folders: tuple[str, ...] = ("/my-secrets",), environment: str = "dev"
) -> str:
    """A project with one environment, the given folders and a connection (which
    create_request() uses for this project); returns its id."""
    sources = source_grpc.SecretSourceServiceStub(channel)
    project = sources.CreateProject(
        source_api.CreateProjectRequest(name="Test", slug="p-" + uuid.uuid4().hex[:12])
    ).project
    sources.CreateEnvironment(
        source_api.CreateEnvironmentRequest(project_id=project.id, slug=environment, name="Dev")
    )
    for path in folders:
        sources.CreateFolder(
            source_api.CreateFolderRequest(
                project_id=project.id, environment=environment, path=path
            )
        )
    _project_connections[project.id] = new_connection(channel, project.id)
    return project.id


_project_connections: dict[str, str] = {}  # project id -> the connection new_project made


def new_connection(channel: grpc.Channel, project_id: str, name: str = "") -> str:
    """A client-secret connection in the project (to no real tenant); returns its id."""
    auth = connection_pb.ClientSecretAuth(
        tenant_id=new_id(), client_id=new_id(), client_secret="not-a-real-secret"
    )
    request = connection_api.CreateAzureConnectionRequest(
        project_id=project_id,
        name=name or "c-" + uuid.uuid4().hex[:12],
        cloud=connection_pb.AZURE_CLOUD_PUBLIC,
        client_secret_auth=auth,
    )
    stub = connection_grpc.AzureConnectionServiceStub(channel)
    return stub.CreateAzureConnection(request).connection.id


_default_project: list[str] = []


@pytest.fixture(autouse=True)
def _default_project_for_syncs(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests with a server get a project with env "dev" and folder "/my-secrets",
    which create_request() uses unless told otherwise."""
    if "server" not in request.fixturenames:
        yield
        return
    channel = request.getfixturevalue("channel")
    _default_project[:] = [new_project(channel)]
    yield
    _default_project.clear()


def new_id() -> str:
    return str(uuid.uuid4())


def create_request(**overrides: object) -> api.CreateSecretSyncRequest:
    """A valid create request; keyword arguments replace its fields."""
    project_id = overrides.get("project_id") or (
        _default_project[0] if _default_project else new_id()
    )
    fields: dict[str, object] = {
        "project_id": project_id,
        "name": "my-key-vault-sync",
        "description": "an example sync",
        "connection_id": _project_connections.get(str(project_id), new_id()),
        "environment": "dev",
        "secret_path": "/my-secrets",
        "is_enabled": True,
        "sync_options": pb.SyncOptions(
            initial_sync_behavior=pb.INITIAL_SYNC_BEHAVIOR_OVERWRITE_DESTINATION
        ),
        "destination_config": pb.AzureKeyVaultDestinationConfig(
            vault_base_url="https://my-key-vault.vault.azure.net"
        ),
    }
    fields.update(overrides)
    return api.CreateSecretSyncRequest(**fields)  # type: ignore[arg-type]
