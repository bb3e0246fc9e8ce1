"""Page tokens are opaque, sealed and bound: a caller narrowed to part of a project pages
through every list with page_size=1 and never meets a hidden name, in an answer or in a
token; a token is refused (INVALID_ARGUMENT page_token) when altered, made up, or
presented by another caller, with another filter or to another list.

Lists are found from the service descriptors (every List* RPC with a page_token), so a
list given paging later is checked here too.
"""

from __future__ import annotations

import base64
import contextlib
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from hanzo.kms.secretsync.v1 import azure_connection_pb2 as cpb
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2 as capi
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2_grpc as cgrpc
from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as agrpc

from service.app.call_context import CallContext
from tests.conftest import start_server
from tests.security.conftest import (
    bearer,
    build_project,
    every_method,
    full_name,
    reason_of,
    sync_request,
)

HIDDEN = "zzhidden"  # in every hidden name: a sync, a folder, an environment, a project
NARROW = {"actions": ["read"], "environments": ["dev"], "paths": ["/app", "/app/db"]}


def lists(paged: bool = True) -> list[Any]:
    """Every List RPC (with paging, unless `paged` is False)."""
    return [
        m for m in every_method()
        if m.name.startswith("List")
        and (not paged or "page_token" in m.input_type.fields_by_name)
    ]


class World:
    def __init__(self, server: Any, channel: grpc.Channel) -> None:
        self.server = server
        self.channel = channel
        self.admin = bearer(self.token([{"project": "*", "actions": ["admin"]}]))
        self.project = build_project(channel, self.admin)
        self.other = build_project(channel, self.admin)
        self._hide()
        self.narrow_token = self.token([{"project": self.project.id, **NARROW}])
        self.narrow = bearer(self.narrow_token)

    def token(self, grants: list[dict[str, Any]]) -> str:
        name = "t-" + uuid.uuid4().hex[:10]
        _, token = self.server.tokens.create(
            name, name, grants, timedelta(hours=1), CallContext("bootstrap", "r-" + name)
        )
        return token

    def _hide(self) -> None:
        """Hidden things that sort first and last: a page boundary falls on them."""
        sources = sgrpc.SecretSourceServiceStub(self.channel)
        syncs = agrpc.SecretSyncServiceStub(self.channel)
        mine = self.project.id
        sources.CreateEnvironment(
            sapi.CreateEnvironmentRequest(project_id=mine, slug=f"a{HIDDEN}", name=HIDDEN),
            metadata=self.admin,
        )
        for path in (f"/a{HIDDEN}", f"/{HIDDEN}", f"/app/a{HIDDEN}-no"):
            place = {"project_id": mine, "environment": "dev", "path": path}
            sources.CreateFolder(sapi.CreateFolderRequest(**place), metadata=self.admin)
            sources.SetSecret(
                sapi.SetSecretRequest(**place, secret=spb.Secret(key=f"{HIDDEN.upper()}_K",
                                                                 value="v")),
                metadata=self.admin,
            )
        # A second secret where the caller reads: ListSecrets has two pages.
        sources.SetSecret(
            sapi.SetSecretRequest(project_id=mine, environment="dev", path="/app",
                                  secret=spb.Secret(key="K2", value="v")),
            metadata=self.admin,
        )
        # /app/db (which the caller reads) imports a folder it may not: not shown either.
        sources.CreateSecretImport(
            sapi.CreateSecretImportRequest(
                project_id=mine, environment="dev", path="/app/db",
                secret_import=spb.SecretImport(environment="dev", path=f"/{HIDDEN}"),
            ),
            metadata=self.admin,
        )
        for env, path in (("prod", "/app"), ("dev", "/other")):
            for name in (f"a{HIDDEN}-{env}", f"{HIDDEN}-{env}"):
                syncs.CreateSecretSync(
                    sync_request(mine, self.project.connection_id, env, path, name=name),
                    metadata=self.admin,
                )
        sources.CreateProject(
            sapi.CreateProjectRequest(name=HIDDEN, slug=f"a{HIDDEN}"), metadata=self.admin
        )
        # Connections belong to the project as a whole: a second one, seen by both.
        cgrpc.AzureConnectionServiceStub(self.channel).CreateAzureConnection(
            capi.CreateAzureConnectionRequest(
                project_id=mine, name="second", cloud=cpb.AZURE_CLOUD_PUBLIC,
                client_secret_auth=cpb.ClientSecretAuth(
                    tenant_id=str(uuid.uuid4()), client_id=str(uuid.uuid4()),
                    client_secret="x",
                ),
            ),
            metadata=self.admin,
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("pages")
    server = start_server(f"sqlite:///{tmp}/store.sqlite", auth="required")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield World(server, channel)
    finally:
        server.stop(grace=1.0)


def request_for(method: Any, world: World, **extra: Any) -> Any:
    """The list's request for the narrowed caller's own place: dev:/app of its project."""
    cls = message_factory.GetMessageClass(method.input_type)
    fields = method.input_type.fields_by_name
    # /app/db holds the project's import (of /app): something for ListSecretImports.
    path = "/app/db" if method.name == "ListSecretImports" else "/app"
    values = {"project_id": world.project.id, "environment": "dev", "path": path,
              "secret_path": "/app"}
    return cls(**{k: v for k, v in values.items() if k in fields}, **extra)


def call(world: World, method: Any, request: Any, metadata: Any) -> Any:
    output = message_factory.GetMessageClass(method.output_type)
    return world.channel.unary_unary(
        full_name(method),
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=output.FromString,
    )(request, metadata=metadata, timeout=10)


def every_spelling(text: str) -> list[bytes]:
    raw = text.encode()
    return [raw, raw.upper(), base64.b64encode(raw), base64.urlsafe_b64encode(raw),
            raw.hex().encode()]


def reveals(blob: bytes) -> bool:
    """Whether a hidden name is in these bytes, or in them once decoded as base64."""
    variants = [blob]
    for decode in (base64.urlsafe_b64decode, base64.b64decode):
        with contextlib.suppress(ValueError):
            variants.append(decode(blob + b"=" * (-len(blob) % 4)))
    return any(s in v for v in variants for s in every_spelling(HIDDEN))


@pytest.mark.parametrize("method", lists(paged=False), ids=lambda m: m.name)
def test_a_narrowed_caller_pages_one_by_one_and_never_meets_a_hidden_name(world, method):
    paged = "page_token" in method.input_type.fields_by_name
    request = request_for(method, world, **({"page_size": 1} if paged else {}))
    pages, items = 0, 0
    while True:
        try:
            answer = call(world, method, request, world.narrow)
        except grpc.RpcError as error:  # a list the narrowed caller may not read at all
            assert error.code() in (grpc.StatusCode.PERMISSION_DENIED,), error.details()
            assert HIDDEN not in (error.details() or "")
            assert pages == 0
            return
        pages += 1
        blob = answer.SerializeToString()
        assert not reveals(blob), (method.name, answer)
        shown = sum(len(getattr(answer, f.name)) for f in answer.DESCRIPTOR.fields
                    if f.is_repeated)
        if not paged:
            assert shown >= 1, method.name
            return
        assert not reveals(answer.next_page_token.encode())
        # A page is never short for a hidden item: only the last page may be empty,
        # and only when the list itself is.
        assert shown == 1 or (not answer.next_page_token and pages == 1 and shown == 0)
        items += shown
        if not answer.next_page_token:
            break
        request.page_token = answer.next_page_token
        assert pages < 100
    assert items >= 1, method.name


@pytest.mark.parametrize("method", lists(), ids=lambda m: m.name)
def test_a_token_of_another_caller_filter_or_list_or_altered_is_refused(world, method):
    admin_first = call(world, method, request_for(method, world, page_size=1), world.admin)
    token = admin_first.next_page_token
    assert token, f"{method.name}: the admin should see more than one item"
    other_admin = bearer(world.token([{"project": "*", "actions": ["admin"]}]))
    altered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    attempts = {
        "another caller": (request_for(method, world, page_size=1, page_token=token),
                           other_admin),
        "altered": (request_for(method, world, page_size=1, page_token=altered), world.admin),
        "made up": (request_for(method, world, page_size=1, page_token="after-me"),
                    world.admin),
        "readable json": (request_for(method, world, page_size=1, page_token=base64.
                                      urlsafe_b64encode(b'{"after": "a"}').decode()),
                          world.admin),
    }
    for label, (request, metadata) in attempts.items():
        with pytest.raises(grpc.RpcError) as refused:
            call(world, method, request, metadata)
        error = refused.value
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (label, error.details())
        assert "page_token" in (error.details() or ""), label
        assert reason_of(error) == "INVALID_ARGUMENT"
    for other in lists():
        if other is method:
            continue
        request = request_for(other, world, page_size=1, page_token=token)
        with pytest.raises(grpc.RpcError) as refused:
            call(world, other, request, world.admin)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, other.name


def test_a_token_is_bound_to_the_filter_it_was_made_for(world):
    syncs = agrpc.SecretSyncServiceStub(world.channel)
    first = syncs.ListSecretSyncs(
        api.ListSecretSyncsRequest(project_id=world.project.id, page_size=1),
        metadata=world.admin,
    )
    with pytest.raises(grpc.RpcError) as refused:
        syncs.ListSecretSyncs(
            api.ListSecretSyncsRequest(project_id=world.project.id, page_size=1,
                                       environment="dev", page_token=first.next_page_token),
            metadata=world.admin,
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # The same filter with another page size continues: the size is not the filter.
    again = syncs.ListSecretSyncs(
        api.ListSecretSyncsRequest(project_id=world.project.id, page_size=2,
                                   page_token=first.next_page_token),
        metadata=world.admin,
    )
    assert first.secret_syncs[0].name not in [s.name for s in again.secret_syncs]
