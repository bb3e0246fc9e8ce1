"""SecretSourceService over a real server: projects, environments, folders, secrets,
imports, resolution, and the INVALID_ARGUMENT contract. Every test runs on SQLite
and on PostgreSQL (the `database_url` fixture).

The helpers at the top (`Source`, `rich`/`fails`, `poll`, `auto_sync_idle` and the
autouse fixture `release_stopped_servers`) are shared by test_source_syncs,
test_auto_sync and test_canary.
"""

from __future__ import annotations

import gc
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc

from service.server import SecretSyncServer
from tests.conftest import event_count, new_project

DETAILS_KEY = "grpc-status-details-bin"
MAX_VALUE = 64 * 1024

# --- shared helpers ---------------------------------------------------------------


@dataclass
class Rich:
    """A failed call as the client sees it, rich details unpacked."""

    code: grpc.StatusCode
    message: str
    reason: str
    fields: list[str]
    raw_details: bytes


def rich(error: grpc.RpcError) -> Rich:
    status = rpc_status.from_call(error)  # also checks code/message match the trailer
    reason, fields = "", []
    for detail in status.details if status is not None else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations if v.field not in fields]
    raw = b"".join(v for k, v in (error.trailing_metadata() or ()) if k == DETAILS_KEY)
    return Rich(error.code(), error.details() or "", reason, fields, raw)


def fails(call: Callable[..., Any], request: Any) -> Rich:
    """Call; it must fail. Returns the failure."""
    with pytest.raises(grpc.RpcError) as info:
        call(request)
    return rich(info.value)


@pytest.fixture(autouse=True)
def release_stopped_servers() -> None:
    """Collect the servers of earlier tests now.

    A stopped server keeps store connections open until it is garbage-collected
    (test_auto_sync.py::test_a_stopped_server_holds_no_store_connections), and the
    PostgreSQL connection limit is shared with everyone using that server.
    Import this fixture into every module that starts servers.
    """
    gc.collect()


def poll(read: Callable[[], Any], until: Callable[[Any], bool], timeout: float = 5.0) -> Any:
    """Read until `until(value)` holds; fail after `timeout` seconds showing the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not so after {timeout}s: {value!r}")
        time.sleep(0.02)


def auto_sync_idle(server: SecretSyncServer, timeout: float = 10.0) -> None:
    """Wait until auto-sync has acted on every source change recorded so far.

    Its follower saves its position only after acting on a batch, so once the
    position reaches the log's end as it is now, everything before is done.
    """
    target = server.sources.recorder.max_notification_id() or 0
    tracking = server.source_changes.view
    poll(
        lambda: tracking.max_tracking_id(server.sources.name) or 0, lambda at: at >= target, timeout
    )


class Source:
    """SecretSourceService calls on one project, environment "dev" unless told."""

    def __init__(
        self,
        channel: grpc.Channel,
        folders: tuple[str, ...] = ("/my-secrets",),
        project_id: str = "",
    ) -> None:
        """A new project with env "dev" and `folders`; or the given project."""
        self.stub = sgrpc.SecretSourceServiceStub(channel)
        self.project_id = project_id or new_project(channel, folders=folders)

    def place(self, path: str, env: str = "dev") -> dict[str, str]:
        return {"project_id": self.project_id, "environment": env, "path": path}

    def env(self, slug: str, name: str = "") -> spb.Environment:
        return self.stub.CreateEnvironment(
            sapi.CreateEnvironmentRequest(
                project_id=self.project_id, slug=slug, name=name or slug.title()
            )
        ).environment

    def mkdir(self, *paths: str, env: str = "dev") -> list[spb.Folder]:
        return [
            self.stub.CreateFolder(sapi.CreateFolderRequest(**self.place(p, env))).folder
            for p in paths
        ]

    def folders(self, path: str = "", env: str = "dev") -> list[str]:
        found = self.stub.ListFolders(sapi.ListFoldersRequest(**self.place(path, env))).folders
        return [f.path for f in found]

    def set(
        self, path: str, key: str, value: str, comment: str = "", env: str = "dev"
    ) -> spb.Secret:
        secret = spb.Secret(key=key, value=value, comment=comment)
        return self.stub.SetSecret(
            sapi.SetSecretRequest(**self.place(path, env), secret=secret)
        ).secret

    def bulk(
        self, path: str, items: dict[str, str] | list[spb.Secret], env: str = "dev"
    ) -> sapi.BulkSetSecretsResponse:
        secrets = (
            [spb.Secret(key=k, value=v) for k, v in items.items()]
            if isinstance(items, dict)
            else items
        )
        return self.stub.BulkSetSecrets(
            sapi.BulkSetSecretsRequest(**self.place(path, env), secrets=secrets)
        )

    def get(self, path: str, key: str, version: int = 0, env: str = "dev") -> spb.Secret:
        return self.stub.GetSecret(
            sapi.GetSecretRequest(**self.place(path, env), key=key, version=version)
        ).secret

    def list(self, path: str, values: bool = True, env: str = "dev") -> list[spb.Secret]:
        return list(
            self.stub.ListSecrets(
                sapi.ListSecretsRequest(**self.place(path, env), include_values=values)
            ).secrets
        )

    def delete(self, path: str, key: str, env: str = "dev") -> int:
        return self.stub.DeleteSecret(
            sapi.DeleteSecretRequest(**self.place(path, env), key=key)
        ).version

    def rmdir(self, path: str, env: str = "dev") -> int:
        return self.stub.DeleteFolder(
            sapi.DeleteFolderRequest(**self.place(path, env))
        ).deleted_folders

    def imp(
        self, path: str, source: str, source_env: str = "dev", env: str = "dev"
    ) -> spb.SecretImport:
        return self.stub.CreateSecretImport(
            sapi.CreateSecretImportRequest(
                **self.place(path, env),
                secret_import=spb.SecretImport(environment=source_env, path=source),
            )
        ).secret_import

    def imports(self, path: str, env: str = "dev") -> list[tuple[str, str]]:
        found = self.stub.ListSecretImports(
            sapi.ListSecretImportsRequest(**self.place(path, env))
        ).secret_imports
        return [(i.environment, i.path) for i in found]

    def unimport(self, path: str, import_id: str, env: str = "dev") -> None:
        self.stub.DeleteSecretImport(
            sapi.DeleteSecretImportRequest(**self.place(path, env), import_id=import_id)
        )

    def resolve(self, path: str, env: str = "dev") -> tuple[dict[str, str], dict[str, str]]:
        got = self.stub.ResolveSecrets(sapi.ResolveSecretsRequest(**self.place(path, env)))
        return dict(got.secrets), dict(got.problems)


# --- projects and environments ------------------------------------------------------


def test_projects_are_created_and_listed_by_slug_page_by_page(server, source_stub):
    suffix = uuid.uuid4().hex[:8]
    slugs = [f"{letter}-{suffix}" for letter in "edcba"]
    created = {}
    for slug in slugs:
        project = source_stub.CreateProject(
            sapi.CreateProjectRequest(name=f"Project {slug}", slug=slug)
        ).project
        assert str(uuid.UUID(project.id)) == project.id
        assert (project.name, project.slug, list(project.environments)) == (
            f"Project {slug}",
            slug,
            [],
        )
        assert project.created_at.seconds > 0
        created[slug] = project

    pages, token = [], ""
    while True:
        page = source_stub.ListProjects(sapi.ListProjectsRequest(page_size=2, page_token=token))
        assert len(page.projects) <= 2
        pages.append([p.slug for p in page.projects])
        token = page.next_page_token
        if not token:
            break
        assert len(pages) < 10, "paging does not end"
    listed = [slug for page in pages for slug in page]
    assert listed == sorted(listed) and len(set(listed)) == len(listed)
    assert set(slugs) <= set(listed)
    assert len(listed) == len(slugs) + 1  # plus the fixture's default project
    assert all(len(page) == 2 for page in pages[:-1])
    everything = source_stub.ListProjects(sapi.ListProjectsRequest()).projects
    assert [p.slug for p in everything] == listed
    assert {p.slug: p for p in everything if p.slug in created} == created

    before = event_count(server)
    taken = fails(source_stub.CreateProject, sapi.CreateProjectRequest(name="Other", slug=slugs[0]))
    assert (taken.code, taken.reason) == (grpc.StatusCode.ALREADY_EXISTS, "SLUG_TAKEN")
    assert event_count(server) == before


def test_environments_are_added_listed_and_unique(server, channel, source_stub):
    source = Source(channel, folders=())
    prod = source.env("prod", "Production")
    staging = source.env("staging", "Staging")
    assert str(uuid.UUID(prod.id)) == prod.id and prod.id != staging.id
    listed = source_stub.ListEnvironments(
        sapi.ListEnvironmentsRequest(project_id=source.project_id)
    ).environments
    assert [(e.slug, e.name, e.id) for e in listed] == [
        ("dev", "Dev", listed[0].id),
        ("prod", "Production", prod.id),
        ("staging", "Staging", staging.id),
    ]
    # Each environment comes with its root folder, empty and usable.
    assert source.folders("/", env="prod") == []
    assert source.set("/", "ROOT_KEY", "v", env="prod").version == 1

    before = event_count(server)
    again = fails(
        source_stub.CreateEnvironment,
        sapi.CreateEnvironmentRequest(project_id=source.project_id, slug="prod", name="P2"),
    )
    assert (again.code, again.reason) == (grpc.StatusCode.ALREADY_EXISTS, "SLUG_TAKEN")
    unknown = fails(
        source_stub.CreateEnvironment,
        sapi.CreateEnvironmentRequest(project_id=str(uuid.uuid4()), slug="qa", name="QA"),
    )
    assert (unknown.code, unknown.reason) == (grpc.StatusCode.NOT_FOUND, "PROJECT_NOT_FOUND")
    assert event_count(server) == before
    listed_again = source_stub.ListEnvironments(
        sapi.ListEnvironmentsRequest(project_id=source.project_id)
    ).environments
    assert [e.name for e in listed_again] == ["Dev", "Production", "Staging"]


# --- folders --------------------------------------------------------------------------


def test_folders_nest_list_and_delete_recursively(server, channel, source_stub):
    source = Source(channel, folders=())
    app, db, cache, replica = source.mkdir("/app", "/app/db", "/app/cache", "/app/db/replica")
    assert (db.project_id, db.environment, db.path, db.secret_count) == (
        source.project_id,
        "dev",
        "/app/db",
        0,
    )
    assert len({app.id, db.id, cache.id, replica.id}) == 4
    assert source.folders("") == ["/app"]
    assert source.folders("/app") == ["/app/cache", "/app/db"]
    assert source.folders("/app/db/") == ["/app/db/replica"]  # trailing slash normalised
    source.set("/app/db", "PASSWORD", "pw")
    source.set("/app/db/replica", "HOST", "replica.local")
    assert [
        f.secret_count
        for f in source.stub.ListFolders(sapi.ListFoldersRequest(**source.place("/app"))).folders
    ] == [0, 1]

    before = event_count(server)
    orphan = fails(source.stub.CreateFolder, sapi.CreateFolderRequest(**source.place("/no/x")))
    assert (orphan.code, orphan.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "PARENT_FOLDER_MISSING",
    )
    assert "/no" in orphan.message
    twice = fails(source.stub.CreateFolder, sapi.CreateFolderRequest(**source.place("/app")))
    assert (twice.code, twice.reason) == (grpc.StatusCode.ALREADY_EXISTS, "FOLDER_EXISTS")
    root = fails(source.stub.CreateFolder, sapi.CreateFolderRequest(**source.place("/")))
    assert (root.code, root.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "ROOT_FOLDER")
    no_env = fails(
        source.stub.CreateFolder, sapi.CreateFolderRequest(**source.place("/x", env="qa"))
    )
    assert (no_env.code, no_env.reason) == (grpc.StatusCode.NOT_FOUND, "ENVIRONMENT_NOT_FOUND")
    root_delete = fails(source.stub.DeleteFolder, sapi.DeleteFolderRequest(**source.place("/")))
    assert (root_delete.code, root_delete.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "ROOT_FOLDER",
    )
    assert event_count(server) == before

    assert source.rmdir("/app/db") == 2
    assert source.folders("/app") == ["/app/cache"]
    for gone in ("/app/db", "/app/db/replica"):
        missing = fails(source.stub.ListSecrets, sapi.ListSecretsRequest(**source.place(gone)))
        assert (missing.code, missing.reason) == (grpc.StatusCode.NOT_FOUND, "FOLDER_NOT_FOUND")
        assert gone in missing.message
    again = fails(source.stub.DeleteFolder, sapi.DeleteFolderRequest(**source.place("/app/db")))
    assert (again.code, again.reason) == (grpc.StatusCode.NOT_FOUND, "FOLDER_NOT_FOUND")

    # Re-created: it exists again, empty (no secrets, no sub-folders).
    (recreated,) = source.mkdir("/app/db")
    assert (recreated.path, recreated.secret_count, list(recreated.imports)) == (
        "/app/db",
        0,
        [],
    )
    assert source.folders("/app") == ["/app/cache", "/app/db"]
    assert source.folders("/app/db") == []
    assert source.list("/app/db") == []
    gone = fails(
        source.stub.GetSecret, sapi.GetSecretRequest(**source.place("/app/db"), key="PASSWORD")
    )
    assert (gone.code, gone.reason) == (grpc.StatusCode.NOT_FOUND, "SECRET_NOT_FOUND")
    assert source.resolve("/app/db") == ({}, {})


# --- secrets ----------------------------------------------------------------------------


def test_secrets_have_versions_values_and_can_be_deleted(server, channel):
    source = Source(channel)
    path = "/my-secrets"
    first = source.set(path, "DB_PASSWORD", "one", comment="the db")
    assert (first.key, first.value, first.comment, first.version) == (
        "DB_PASSWORD",
        "",  # SetSecret answers without the value
        "the db",
        1,
    )
    second = source.set(path, "DB_PASSWORD", "two", comment="the db")
    assert second.version == 2
    assert second.updated_at.ToDatetime() >= first.updated_at.ToDatetime()
    same = source.set(path, "DB_PASSWORD", "two", comment="the db")
    assert same.version == 2  # nothing changed, no new version
    assert source.set(path, "DB_PASSWORD", "two", comment="new comment").version == 3
    source.set(path, "API_KEY", "k" * MAX_VALUE)  # exactly the limit is fine
    source.set(path, "A" * 255, "long key")  # 255 characters is fine
    source.set(path, "lower-case_key-1", "mixed")

    latest = source.get(path, "DB_PASSWORD")
    assert (latest.value, latest.version, latest.comment) == ("two", 3, "new comment")
    old = source.get(path, "DB_PASSWORD", version=1)
    assert (old.value, old.version, old.comment) == ("one", 1, "the db")
    assert source.get(path, "DB_PASSWORD", version=2).value == "two"
    assert source.get(path, "API_KEY").value == "k" * MAX_VALUE
    no_version = fails(
        source.stub.GetSecret, sapi.GetSecretRequest(**source.place(path), key="API_KEY", version=7)
    )
    assert (no_version.code, no_version.reason) == (grpc.StatusCode.NOT_FOUND, "SECRET_NOT_FOUND")

    keys = sorted(["DB_PASSWORD", "API_KEY", "A" * 255, "lower-case_key-1"])
    with_values = source.list(path, values=True)
    assert [s.key for s in with_values] == keys
    assert {s.key: s.value for s in with_values}["lower-case_key-1"] == "mixed"
    assert all(s.value for s in with_values)
    without = source.list(path, values=False)
    assert [s.key for s in without] == keys
    assert all(s.value == "" for s in without)
    assert [(s.version, s.comment) for s in without] == [
        (s.version, s.comment) for s in with_values
    ]

    assert source.delete(path, "DB_PASSWORD") == 3
    deleted = fails(
        source.stub.GetSecret, sapi.GetSecretRequest(**source.place(path), key="DB_PASSWORD")
    )
    assert (deleted.code, deleted.reason) == (grpc.StatusCode.NOT_FOUND, "SECRET_NOT_FOUND")
    assert "DB_PASSWORD" in deleted.message
    assert "DB_PASSWORD" not in [s.key for s in source.list(path)]
    twice = fails(
        source.stub.DeleteSecret, sapi.DeleteSecretRequest(**source.place(path), key="DB_PASSWORD")
    )
    assert (twice.code, twice.reason) == (grpc.StatusCode.NOT_FOUND, "SECRET_NOT_FOUND")
    missing_folder = fails(
        source.stub.SetSecret,
        sapi.SetSecretRequest(**source.place("/nope"), secret=spb.Secret(key="K", value="v")),
    )
    assert (missing_folder.code, missing_folder.reason) == (
        grpc.StatusCode.NOT_FOUND,
        "FOLDER_NOT_FOUND",
    )


def test_bulk_set_counts_created_updated_unchanged_all_or_none(server, channel):
    source = Source(channel)
    path = "/my-secrets"
    assert source.bulk(path, {"A": "1", "B": "2", "C": "3"}) == sapi.BulkSetSecretsResponse(
        created=3, updated=0, unchanged=0
    )
    result = source.bulk(
        path,
        [
            spb.Secret(key="A", value="1"),  # unchanged
            spb.Secret(key="B", value="two"),  # new value
            spb.Secret(key="C", value="3", comment="now with a comment"),  # new comment
            spb.Secret(key="D", value="4"),  # new
        ],
    )
    assert (result.created, result.updated, result.unchanged) == (1, 2, 1)
    assert {s.key: (s.value, s.version) for s in source.list(path)} == {
        "A": ("1", 1),
        "B": ("two", 2),
        "C": ("3", 2),
        "D": ("4", 1),
    }
    assert source.get(path, "C").comment == "now with a comment"

    before = event_count(server)
    refused = fails(
        source.stub.BulkSetSecrets,
        sapi.BulkSetSecretsRequest(
            **source.place(path),
            secrets=[spb.Secret(key="E", value="5"), spb.Secret(key="bad.key", value="6")],
        ),
    )
    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.fields == ["secrets[1].key"]
    assert event_count(server) == before
    assert "E" not in [s.key for s in source.list(path)]  # all or none


# --- imports ---------------------------------------------------------------------------


def test_imports_are_created_listed_in_order_and_deleted(server, channel):
    source = Source(channel, folders=("/app", "/a", "/b", "/c"))
    source.env("prod")
    source.mkdir("/shared", env="prod")
    first = source.imp("/app", "/b")
    second = source.imp("/app", "/shared", source_env="prod")
    third = source.imp("/app", "/a/")  # trailing slash normalised
    assert (third.environment, third.path) == ("dev", "/a")
    assert len({first.id, second.id, third.id}) == 3
    assert source.imports("/app") == [("dev", "/b"), ("prod", "/shared"), ("dev", "/a")]
    (app,) = [
        f
        for f in source.stub.ListFolders(sapi.ListFoldersRequest(**source.place("/"))).folders
        if f.path == "/app"
    ]
    assert [(i.id, i.path) for i in app.imports] == [
        (first.id, "/b"),
        (second.id, "/shared"),
        (third.id, "/a"),
    ]

    source.unimport("/app", second.id)
    assert source.imports("/app") == [("dev", "/b"), ("dev", "/a")]
    source.imp("/app", "/c")
    assert source.imports("/app") == [("dev", "/b"), ("dev", "/a"), ("dev", "/c")]

    before = event_count(server)
    twice = fails(
        source.stub.CreateSecretImport,
        sapi.CreateSecretImportRequest(
            **source.place("/app"), secret_import=spb.SecretImport(environment="dev", path="/b")
        ),
    )
    assert (twice.code, twice.reason) == (grpc.StatusCode.ALREADY_EXISTS, "IMPORT_EXISTS")
    unknown = fails(
        source.stub.DeleteSecretImport,
        sapi.DeleteSecretImportRequest(**source.place("/app"), import_id=second.id),
    )
    assert (unknown.code, unknown.reason) == (grpc.StatusCode.NOT_FOUND, "IMPORT_NOT_FOUND")
    missing = fails(
        source.stub.CreateSecretImport,
        sapi.CreateSecretImportRequest(
            **source.place("/app"),
            secret_import=spb.SecretImport(environment="dev", path="/nowhere"),
        ),
    )
    assert missing.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "/nowhere" in missing.message
    no_env = fails(
        source.stub.CreateSecretImport,
        sapi.CreateSecretImportRequest(
            **source.place("/app"), secret_import=spb.SecretImport(environment="qa", path="/")
        ),
    )
    assert no_env.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "qa" in no_env.message
    assert event_count(server) == before
    assert source.imports("/app") == [("dev", "/b"), ("dev", "/a"), ("dev", "/c")]


def test_import_cycles_are_refused(server, channel):
    source = Source(channel, folders=("/a", "/b", "/c"))
    source.imp("/a", "/b")
    source.imp("/b", "/c")
    before = event_count(server)
    for importer, imported in [("/a", "/a"), ("/b", "/a"), ("/c", "/a"), ("/c", "/b")]:
        cycle = fails(
            source.stub.CreateSecretImport,
            sapi.CreateSecretImportRequest(
                **source.place(importer),
                secret_import=spb.SecretImport(environment="dev", path=imported),
            ),
        )
        assert (cycle.code, cycle.reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "IMPORT_CYCLE",
        ), (importer, imported)
    assert event_count(server) == before
    assert [source.imports(p) for p in ("/a", "/b", "/c")] == [[("dev", "/b")], [("dev", "/c")], []]


# --- resolution ------------------------------------------------------------------------


def test_resolve_merges_imports_own_keys_win_earlier_import_wins(server, channel):
    source = Source(channel, folders=("/app", "/one", "/two", "/l1", "/l2", "/l3"))
    source.bulk("/app", {"OWN": "app", "SHARED": "app"})
    source.bulk("/one", {"SHARED": "one", "FIRST": "one", "BOTH": "one"})
    source.bulk("/two", {"SHARED": "two", "BOTH": "two", "SECOND": "two"})
    source.imp("/app", "/one")
    source.imp("/app", "/two")
    values, problems = source.resolve("/app")
    assert values == {
        "OWN": "app",
        "SHARED": "app",  # own key wins
        "FIRST": "one",
        "BOTH": "one",  # the earlier import wins
        "SECOND": "two",
    }
    assert problems == {}

    # Transitive: l1 imports l2 imports l3.
    source.bulk("/l3", {"DEEP": "l3", "MID": "l3", "TOP": "l3"})
    source.bulk("/l2", {"MID": "l2", "TOP": "l2"})
    source.set("/l1", "TOP", "l1")
    source.imp("/l2", "/l3")
    source.imp("/l1", "/l2")
    assert source.resolve("/l1") == ({"DEEP": "l3", "MID": "l2", "TOP": "l1"}, {})
    assert source.resolve("/l2") == ({"DEEP": "l3", "MID": "l2", "TOP": "l2"}, {})

    # A change in the deepest folder shows at the top; a removed import stops applying.
    source.set("/l3", "NEW", "fresh")
    assert source.resolve("/l1")[0]["NEW"] == "fresh"
    (first,) = [
        i
        for i in source.stub.ListSecretImports(
            sapi.ListSecretImportsRequest(**source.place("/app"))
        ).secret_imports
        if i.path == "/one"
    ]
    source.unimport("/app", first.id)
    assert source.resolve("/app")[0] == {
        "OWN": "app",
        "SHARED": "app",
        "BOTH": "two",
        "SECOND": "two",
    }


def test_resolve_expands_references(server, channel):
    source = Source(channel, folders=("/app", "/shared", "/shared/db"))
    source.env("prod")
    source.mkdir("/cfg", env="prod")
    source.set("/shared/db", "NAME", "main")
    source.set("/", "ROOT", "root-value")
    source.set("/cfg", "REGION", "westeurope", env="prod")
    source.bulk(
        "/app",
        {
            "HOST": "db.local",
            "URL": "postgres://${HOST}:5432/${dev.shared.db.NAME}",
            "FROM_ROOT": "${dev.ROOT}",
            "OTHER_ENV": "region=${prod.cfg.REGION}",
            "NESTED": "[${URL}]",
            "LITERAL": "echo ${not a ref} ${a/b} $HOME ${}",
        },
    )
    values, problems = source.resolve("/app")
    assert problems == {}
    assert values == {
        "HOST": "db.local",
        "URL": "postgres://db.local:5432/main",
        "FROM_ROOT": "root-value",
        "OTHER_ENV": "region=westeurope",
        "NESTED": "[postgres://db.local:5432/main]",
        "LITERAL": "echo ${not a ref} ${a/b} $HOME ${}",
    }
    # The stored value keeps the reference; only resolution expands it.
    assert source.get("/app", "URL").value == "postgres://${HOST}:5432/${dev.shared.db.NAME}"

    # ${KEY} is a key as the folder resolves it: imported keys count.
    source.set("/shared", "IMPORTED", "from-shared")
    source.imp("/app", "/shared")
    source.set("/app", "USES_IMPORT", "x-${IMPORTED}")
    assert source.resolve("/app")[0]["USES_IMPORT"] == "x-from-shared"

    # A reference to a missing key is a problem of that key only; never a value.
    source.set("/app", "BROKEN", "secret-part-${MISSING}")
    source.set("/app", "BROKEN_FAR", "${dev.shared.db.NOPE}")
    values, problems = source.resolve("/app")
    assert set(problems) == {"BROKEN", "BROKEN_FAR"}
    assert "MISSING" in problems["BROKEN"] and "secret-part" not in problems["BROKEN"]
    assert "NOPE" in problems["BROKEN_FAR"]
    assert "BROKEN" not in values and "BROKEN_FAR" not in values
    assert values["URL"] == "postgres://db.local:5432/main"
    source.set("/app", "MISSING", "found")
    values, problems = source.resolve("/app")
    assert values["BROKEN"] == "secret-part-found"
    assert set(problems) == {"BROKEN_FAR"}


def test_reference_cycles_are_refused_at_write(server, channel):
    source = Source(channel, folders=("/x", "/y"))
    source.set("/x", "A", "${B}")  # B does not exist yet: fine
    source.set("/y", "Q", "${dev.x.P}")
    before = event_count(server)

    def refused(path: str, key: str, value: str) -> Rich:
        return fails(
            source.stub.SetSecret,
            sapi.SetSecretRequest(**source.place(path), secret=spb.Secret(key=key, value=value)),
        )

    for path, key, value in [
        ("/x", "SELF", "a${SELF}b"),  # itself
        ("/x", "B", "${A}"),  # mutual, same folder
        ("/x", "P", "${dev.y.Q}"),  # mutual, across folders
        ("/x", "B", "${dev.x.A}"),  # mutual, the long way round
    ]:
        cycle = refused(path, key, value)
        assert (cycle.code, cycle.reason) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "REFERENCE_CYCLE",
        ), (key, value)
        assert key in cycle.message
    bulk = fails(
        source.stub.BulkSetSecrets,
        sapi.BulkSetSecretsRequest(
            **source.place("/y"),
            secrets=[spb.Secret(key="M", value="${N}"), spb.Secret(key="N", value="${M}")],
        ),
    )
    assert (bulk.code, bulk.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "REFERENCE_CYCLE")
    assert event_count(server) == before
    assert [s.key for s in source.list("/x")] == ["A"]
    assert [s.key for s in source.list("/y")] == ["Q"]

    # Chains nested deeper than 5 are refused too; shallow ones are fine.
    source.set("/y", "K10", "end")
    for level in range(9, 4, -1):
        source.set("/y", f"K{level}", f"${{K{level + 1}}}")
    assert source.resolve("/y")[0]["K5"] == "end"  # five references deep
    deep = refused("/y", "K4", "${K5}")  # six
    assert (deep.code, deep.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "REFERENCE_TOO_DEEP")
    assert event_count(server) == before + 6


def test_a_cycle_formed_by_a_deletion_is_a_problem_of_its_keys_only(server, channel):
    source = Source(channel, folders=("/x", "/y"))
    source.bulk("/x", {"A": "a-${K}", "K": "own", "FINE": "fine-${K}", "PLAIN": "p"})
    source.set("/y", "K", "${dev.x.A}")
    source.imp("/x", "/y")
    assert source.resolve("/x") == (
        {"A": "a-own", "K": "own", "FINE": "fine-own", "PLAIN": "p"},
        {},
    )
    source.delete("/x", "K")  # now /x's K is /y's, which refers back to A
    values, problems = source.resolve("/x")
    assert values == {"PLAIN": "p"}
    assert set(problems) == {"A", "K", "FINE"}
    assert all("cycle" in why for why in problems.values())


def test_an_import_that_closes_a_reference_cycle_is_refused(server, channel):
    source = Source(channel, folders=("/x", "/y"))
    source.set("/x", "A", "${B}")  # B is not in /x (yet)
    source.set("/y", "B", "${dev.x.A}")  # /x has no B, so no cycle yet
    before = event_count(server)
    cycle = fails(
        source.stub.CreateSecretImport,
        sapi.CreateSecretImportRequest(
            **source.place("/x"), secret_import=spb.SecretImport(environment="dev", path="/y")
        ),
    )
    assert (cycle.code, cycle.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "REFERENCE_CYCLE")
    assert event_count(server) == before


# --- invalid input ---------------------------------------------------------------------

BIG = "x" * (MAX_VALUE + 1)
DEV = {"environment": "dev", "path": "/my-secrets"}
Build = Callable[[str], tuple[str, Any]]


def _secret(pid: str, key: str = "K", value: str = "v", comment: str = "", **place: str):
    where = {**DEV, **place}
    return "SetSecret", sapi.SetSecretRequest(
        project_id=pid, **where, secret=spb.Secret(key=key, value=value, comment=comment)
    )


def _bulk(pid: str, *secrets: tuple[str, str]):
    return "BulkSetSecrets", sapi.BulkSetSecretsRequest(
        project_id=pid, **DEV, secrets=[spb.Secret(key=k, value=v) for k, v in secrets]
    )


def _import(pid: str, environment: str = "dev", path: str = "/"):
    return "CreateSecretImport", sapi.CreateSecretImportRequest(
        project_id=pid, **DEV, secret_import=spb.SecretImport(environment=environment, path=path)
    )



INVALID: list[Any] = [
    pytest.param(
        lambda pid: ("CreateProject", sapi.CreateProjectRequest(name="X", slug="Bad_Slug")),
        {"slug"},
        id="project-bad-slug",
    ),
    pytest.param(
        lambda pid: ("CreateProject", sapi.CreateProjectRequest(name="", slug="fine")),
        {"name"},
        id="project-empty-name",
    ),
    pytest.param(
        lambda pid: ("CreateProject", sapi.CreateProjectRequest(name="X", slug="fine\n")),
        {"slug"},
        id="project-slug-newline",
    ),
    pytest.param(
        lambda pid: ("CreateProject", sapi.CreateProjectRequest(name="n" * 65, slug="a--b")),
        {"name", "slug"},
        id="project-long-name-double-hyphen",
    ),
    pytest.param(
        lambda pid: ("ListProjects", sapi.ListProjectsRequest(page_size=-1)),
        {"page_size"},
        id="projects-negative-page-size",
    ),
    pytest.param(
        lambda pid: (
            "CreateEnvironment",
            sapi.CreateEnvironmentRequest(project_id="not-a-uuid", slug="qa", name="QA"),
        ),
        {"project_id"},
        id="env-bad-project",
    ),
    pytest.param(
        lambda pid: (
            "CreateEnvironment",
            sapi.CreateEnvironmentRequest(project_id=pid, slug="QA!", name="QA"),
        ),
        {"slug"},
        id="env-bad-slug",
    ),
    pytest.param(
        lambda pid: ("ListEnvironments", sapi.ListEnvironmentsRequest(project_id=pid.upper()[:-1])),
        {"project_id"},
        id="list-env-bad-project",
    ),
    pytest.param(
        lambda pid: (
            "CreateFolder",
            sapi.CreateFolderRequest(project_id=pid, environment="dev", path="my-secrets/x"),
        ),
        {"path"},
        id="relative-path",
    ),
    pytest.param(
        lambda pid: (
            "CreateFolder",
            sapi.CreateFolderRequest(project_id=pid, environment="dev", path="/my-secrets/../x"),
        ),
        {"path"},
        id="dotdot",
    ),
    pytest.param(
        lambda pid: (
            "CreateFolder",
            sapi.CreateFolderRequest(project_id=pid, environment="dev", path="/a//b"),
        ),
        {"path"},
        id="empty-segment",
    ),
    pytest.param(
        lambda pid: (
            "CreateFolder",
            sapi.CreateFolderRequest(project_id="x", environment="Dev", path=""),
        ),
        {"project_id", "environment", "path"},
        id="folder-all-bad",
    ),
    pytest.param(
        lambda pid: (
            "CreateFolder",
            sapi.CreateFolderRequest(project_id=pid, environment="dev", path="/bad folder"),
        ),
        {"path"},
        id="bad-segment-chars",
    ),
    pytest.param(
        lambda pid: (
            "CreateFolder",
            sapi.CreateFolderRequest(project_id=pid, environment="dev", path="//"),
        ),
        {"path"},
        id="double-slash",
    ),
    pytest.param(
        lambda pid: (
            "DeleteFolder",
            sapi.DeleteFolderRequest(project_id=pid, environment="dev", path=""),
        ),
        {"path"},
        id="delete-folder-no-path",
    ),
    pytest.param(lambda pid: _secret(pid, key="a.b"), {"secret.key"}, id="key-dot"),
    pytest.param(lambda pid: _secret(pid, key="a/b"), {"secret.key"}, id="key-slash"),
    pytest.param(lambda pid: _secret(pid, key="a:b"), {"secret.key"}, id="key-colon"),
    pytest.param(lambda pid: _secret(pid, key=""), {"secret.key"}, id="key-empty"),
    pytest.param(lambda pid: _secret(pid, key="K\n"), {"secret.key"}, id="key-newline"),
    pytest.param(lambda pid: _secret(pid, key="K" * 256), {"secret.key"}, id="key-too-long"),
    pytest.param(lambda pid: _secret(pid, value=BIG), {"secret.value"}, id="value-too-big"),
    pytest.param(
        lambda pid: _secret(pid, comment="c" * 1025), {"secret.comment"}, id="comment-too-long"
    ),
    pytest.param(
        lambda pid: _secret(pid, key="a b", value=BIG, comment="c" * 1025),
        {"secret.key", "secret.value", "secret.comment"},
        id="secret-all-bad",
    ),
    pytest.param(lambda pid: _secret(pid, path="relative"), {"path"}, id="secret-relative"),
    pytest.param(lambda pid: _secret(pid, environment="DEV"), {"environment"}, id="secret-bad-env"),
    pytest.param(
        lambda pid: _secret("nope", key="a.b", environment="", path=""),
        {"project_id", "environment", "path", "secret.key"},
        id="set-everything-bad",
    ),
    pytest.param(
        lambda pid: _bulk(pid, ("A", "1"), ("B", "2"), ("A", "3")),
        {"secrets[2].key"},
        id="bulk-duplicate-keys",
    ),
    pytest.param(lambda pid: _bulk(pid), {"secrets"}, id="bulk-empty"),
    pytest.param(
        lambda pid: _bulk(pid, ("A", "1"), ("B", BIG), ("c.d", "3")),
        {"secrets[1].value", "secrets[2].key"},
        id="bulk-bad-value-and-key",
    ),
    pytest.param(
        lambda pid: (
            "GetSecret",
            sapi.GetSecretRequest(project_id=pid, **DEV, key="K", version=-1),
        ),
        {"version"},
        id="negative-version",
    ),
    pytest.param(
        lambda pid: ("GetSecret", sapi.GetSecretRequest(project_id=pid, **DEV, key="a.b")),
        {"key"},
        id="get-bad-key",
    ),
    pytest.param(
        lambda pid: ("DeleteSecret", sapi.DeleteSecretRequest(project_id=pid, **DEV, key="")),
        {"key"},
        id="delete-empty-key",
    ),
    pytest.param(
        lambda pid: (
            "ListSecrets",
            sapi.ListSecretsRequest(project_id=pid, environment="dev", path="/a/./b"),
        ),
        {"path"},
        id="list-dot-segment",
    ),
    pytest.param(
        lambda pid: _import(pid, path="shared"), {"secret_import.path"}, id="import-relative"
    ),
    pytest.param(
        lambda pid: _import(pid, environment="Prod"),
        {"secret_import.environment"},
        id="import-bad-env",
    ),
    pytest.param(
        lambda pid: _import(pid, path="/bad folder"),
        {"secret_import.path"},
        id="import-bad-segment",
    ),
    pytest.param(
        lambda pid: (
            "DeleteSecretImport",
            sapi.DeleteSecretImportRequest(project_id=pid, **DEV, import_id="first"),
        ),
        {"import_id"},
        id="import-bad-id",
    ),
    pytest.param(
        lambda pid: (
            "ResolveSecrets",
            sapi.ResolveSecretsRequest(project_id=pid, environment="dev", path="/x/.."),
        ),
        {"path"},
        id="resolve-dotdot",
    ),
]


@pytest.mark.parametrize(("build", "fields"), INVALID)
def test_invalid_input_is_refused_naming_the_fields(server, channel, build, fields):
    source = Source(channel)
    source.set("/my-secrets", "K", "v")
    method, request = build(source.project_id)
    before = event_count(server)
    refused = fails(getattr(source.stub, method), request)
    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT, refused.message
    assert refused.reason == "INVALID_ARGUMENT"
    assert set(refused.fields) == fields
    for field in fields:
        assert field in refused.message
    assert event_count(server) == before
    assert source.get("/my-secrets", "K").value == "v"
