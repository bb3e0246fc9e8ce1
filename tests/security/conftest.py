"""A server with authentication on (service tokens and JWTs), over each store, and a world
of two projects: "mine" (the caller's) and "theirs" (another project it must not see).

One server per store per module: every test here only reads, or makes calls that are
refused, so they can share it.
"""

from __future__ import annotations

import glob
import importlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.protobuf import message_factory
from hanzo.kms.secretsync.v1 import azure_connection_pb2 as cpb
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2 as capi
from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api

from domain.permissions import ACTIONS, ADMIN
from service.app.call_context import CallContext
from service.server import SecretSyncServer
from tests.conftest import postgres_schema_url, start_server

ISSUER = "https://issuer.test"
AUDIENCE = "secret-sync"
GEN = Path(__file__).resolve().parents[2] / "gen" / "hanzo" / "kms" / "secretsync" / "v1"
EVERY_ACTION_BUT_ADMIN = [a for a in ACTIONS if a != ADMIN]


def services() -> list[Any]:
    """Every service of protos/ (all generated *_service_pb2 modules): a new service or
    RPC is picked up here without touching the tests."""
    found = []
    for path in sorted(glob.glob(str(GEN / "*_pb2.py"))):
        module = importlib.import_module("hanzo.kms.secretsync.v1." + Path(path).stem)
        found += list(module.DESCRIPTOR.services_by_name.values())
    return found


def every_method() -> list[Any]:
    return [m for s in services() for m in s.methods]


def full_name(method: Any) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def short_name(method: Any) -> str:
    return f"{method.containing_service.name}/{method.name}"


@dataclass(frozen=True)
class Outcome:
    code: grpc.StatusCode
    reason: str
    message: str
    response: Any = None

    def shape(self, *ids: str) -> tuple[Any, ...]:
        """What a caller can see, with the given ids blanked out."""
        message = self.message
        for value in ids:
            message = message.replace(value, "<id>").replace(value.lower(), "<id>")
        response = self.response.SerializeToString() if self.response is not None else b""
        return self.code, self.reason, message, response


def reason_of(error: grpc.RpcError) -> str:
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


def invoke(
    channel: grpc.Channel, method: Any, request: Any, metadata: list[tuple[str, str]],
    timeout: float = 10.0,
) -> Outcome:
    """Call any RPC by its descriptor; a stream answers its first message (or none in
    `timeout`: DEADLINE_EXCEEDED)."""
    output = message_factory.GetMessageClass(method.output_type)
    path = full_name(method)
    try:
        if method.server_streaming:
            stream = channel.unary_stream(
                path,
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=output.FromString,
            )(request, metadata=metadata, timeout=timeout)
            first = next(iter(stream), None)
            stream.cancel()
            return Outcome(grpc.StatusCode.OK, "", "", first)
        call = channel.unary_unary(
            path,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=output.FromString,
        )
        answer = call(request, metadata=metadata, timeout=timeout)
        return Outcome(grpc.StatusCode.OK, "", "", answer)
    except grpc.RpcError as error:
        return Outcome(error.code(), reason_of(error), error.details() or "")


def empty_request(method: Any) -> Any:
    return message_factory.GetMessageClass(method.input_type)()


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


@dataclass
class Project:
    """A project with environments dev and prod, folders /app, /app/db and /other in
    each, a secret in each folder, one connection, an import and three syncs."""

    id: str
    connection_id: str = ""
    import_id: str = ""
    syncs: dict[str, str] = field(default_factory=dict)  # "dev:/app" -> sync id


@dataclass
class Secured:
    server: SecretSyncServer
    channel: grpc.Channel
    admin: list[tuple[str, str]]
    private_key: Any
    other_key: Any
    mine: Project
    theirs: Project
    made: list[str] = field(default_factory=list)  # every token made, for the canary

    def token(
        self,
        grants: list[dict[str, Any]],
        principal: str = "",
        ttl: timedelta = timedelta(hours=1),
    ) -> str:
        """A service token with these grants (made as the bootstrap command makes one)."""
        name = "t-" + uuid.uuid4().hex[:12]
        _, token = self.server.tokens.create(
            name, principal or name, grants, ttl, CallContext("bootstrap", "r-" + name)
        )
        self.made.append(token)
        return token

    def jwt(self, claims: dict[str, Any] | None = None, key: Any = None, **header: Any) -> str:
        now = datetime.now(UTC)
        body = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "jwt-user",
            "iat": now,
            "exp": now + timedelta(minutes=5),
            "kms_grants": [{"project": self.mine.id, "actions": ["read"]}],
        }
        body.update(claims or {})
        body = {k: v for k, v in body.items() if v is not None}
        signer = key or self.private_key
        return jwt.encode(body, signer, algorithm=header.pop("alg", "RS256"), headers=header)


def make_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: Any) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def build_project(channel: grpc.Channel, admin: list[tuple[str, str]]) -> Project:
    from hanzo.kms.secretsync.v1 import azure_connection_service_pb2_grpc as cgrpc
    from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc
    from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as agrpc

    sources = sgrpc.SecretSourceServiceStub(channel)
    slug = "p-" + uuid.uuid4().hex[:12]
    made = sources.CreateProject(sapi.CreateProjectRequest(name="P", slug=slug), metadata=admin)
    project = Project(made.project.id)
    for env in ("dev", "prod"):
        sources.CreateEnvironment(
            sapi.CreateEnvironmentRequest(project_id=project.id, slug=env, name=env),
            metadata=admin,
        )
        for path in ("/app", "/app/db", "/other"):
            place = {"project_id": project.id, "environment": env, "path": path}
            sources.CreateFolder(sapi.CreateFolderRequest(**place), metadata=admin)
            sources.SetSecret(
                sapi.SetSecretRequest(**place, secret=spb.Secret(key="K", value="v")),
                metadata=admin,
            )
    project.import_id = sources.CreateSecretImport(
        sapi.CreateSecretImportRequest(
            project_id=project.id,
            environment="dev",
            path="/app/db",
            secret_import=spb.SecretImport(environment="dev", path="/app"),
        ),
        metadata=admin,
    ).secret_import.id
    connection = cgrpc.AzureConnectionServiceStub(channel).CreateAzureConnection(
        capi.CreateAzureConnectionRequest(
            project_id=project.id,
            name="c",
            cloud=cpb.AZURE_CLOUD_PUBLIC,
            client_secret_auth=cpb.ClientSecretAuth(
                tenant_id=str(uuid.uuid4()), client_id=str(uuid.uuid4()), client_secret="x"
            ),
        ),
        metadata=admin,
    )
    project.connection_id = connection.connection.id
    syncs = agrpc.SecretSyncServiceStub(channel)
    for env, path in (("dev", "/app"), ("prod", "/app"), ("dev", "/other")):
        sync = syncs.CreateSecretSync(
            sync_request(project.id, project.connection_id, env, path), metadata=admin
        ).secret_sync
        project.syncs[f"{env}:{path}"] = sync.id
    return project


def sync_request(
    project_id: str, connection_id: str, env: str, path: str, name: str = ""
) -> api.CreateSecretSyncRequest:
    return api.CreateSecretSyncRequest(
        project_id=project_id,
        name=name or f"s-{env}-{path.strip('/').replace('/', '-')}",
        connection_id=connection_id,
        environment=env,
        secret_path=path,
        is_enabled=False,
        sync_options=pb.SyncOptions(
            initial_sync_behavior=pb.INITIAL_SYNC_BEHAVIOR_OVERWRITE_DESTINATION
        ),
        destination_config=pb.AzureKeyVaultDestinationConfig(
            vault_base_url="https://my-key-vault.vault.azure.net"
        ),
    )


def secured_server(
    url: str, tmp: Path, **overrides: Any
) -> tuple[SecretSyncServer, Any, Any]:
    key, other = make_key(), make_key()
    (tmp / "jwt.pem").write_bytes(public_pem(key))
    server = start_server(
        url,
        auth="required",
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwt_public_key_file=str(tmp / "jwt.pem"),
        jwt_leeway_seconds=5.0,
        **overrides,
    )
    return server, key, other


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def secured(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Secured]:
    tmp = tmp_path_factory.mktemp("secured")
    sqlite = request.param == "sqlite"
    urls = iter([f"sqlite:///{tmp}/store.sqlite"]) if sqlite else postgres_schema_url()
    url = next(urls)
    server, key, other = secured_server(url, tmp)
    try:
        _, admin_token = server.tokens.create(
            "admin", "root-admin", [{"project": "*", "actions": ["admin"]}], timedelta(hours=1),
            CallContext("bootstrap", "r-admin"),
        )
        admin = bearer(admin_token)
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            world = Secured(
                server, channel, admin, key, other,
                build_project(channel, admin), build_project(channel, admin),
            )
            world.made.append(admin_token)
            yield world
    finally:
        server.stop(grace=1.0)
        next(urls, None)  # drops the PostgreSQL schema


Call = Callable[[Any, list[tuple[str, str]]], Outcome]
