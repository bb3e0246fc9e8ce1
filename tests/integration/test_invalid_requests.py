"""One table of invalid requests, across every field of Create, Update, Get and List.

Each row must be refused with INVALID_ARGUMENT, a google.rpc.BadRequest naming exactly
the expected field paths (the request's own field names, e.g.
"destination_config.vault_base_url"), an ErrorInfo with reason "INVALID_ARGUMENT",
and nothing recorded in the event store.

The rows share one server per backend (module-scoped `server` below) so that the
table stays fast; each row still gets its own project (conftest's autouse fixture).
Servers run in development mode, where loopback vault URLs are allowed, so the URL
rows use non-loopback hosts (and show what stays refused on loopback hosts).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api

from service.server import SecretSyncServer
from tests.conftest import create_request, event_count, new_id, postgres_schema_url, start_server
from tests.integration.sync_helpers import assert_invalid, fails, get, mask

OVERWRITE = pb.INITIAL_SYNC_BEHAVIOR_OVERWRITE_DESTINATION
VAULT = "destination_config.vault_base_url"
KEY_SCHEMA = "sync_options.key_schema"
INITIAL = "sync_options.initial_sync_behavior"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def database_url(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('invalid')}/store.sqlite"
    else:
        yield from postgres_schema_url()


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[SecretSyncServer]:
    server = start_server(database_url)
    yield server
    server.stop(grace=1.0)


@dataclass(frozen=True)
class Ctx:
    project_id: str
    sync_id: str


Build = Callable[[Ctx], Any]


def create(**overrides: Any) -> tuple[str, Build]:
    return "create", lambda ctx: create_request(**overrides)


def create_vault(url: str) -> tuple[str, Build]:
    return create(destination_config=pb.AzureKeyVaultDestinationConfig(vault_base_url=url))


def create_options(**options: Any) -> tuple[str, Build]:
    return create(sync_options=pb.SyncOptions(**{"initial_sync_behavior": OVERWRITE, **options}))


def update(paths: list[str], **fields: Any) -> tuple[str, Build]:
    def build(ctx: Ctx) -> api.UpdateSecretSyncRequest:
        request = api.UpdateSecretSyncRequest(id=ctx.sync_id, update_mask=mask(*paths), **fields)
        return request

    return "update", build


def update_id(sync_id: str) -> tuple[str, Build]:
    return "update", lambda ctx: api.UpdateSecretSyncRequest(
        id=sync_id, update_mask=mask("description"), description="x"
    )


def get_by(**fields: Any) -> tuple[str, Build]:
    return "get", lambda ctx: api.GetSecretSyncRequest(**fields)


def get_in_project(name: str) -> tuple[str, Build]:
    return "get", lambda ctx: api.GetSecretSyncRequest(project_id=ctx.project_id, name=name)


def list_in_project(**fields: Any) -> tuple[str, Build]:
    return "list", lambda ctx: api.ListSecretSyncsRequest(project_id=ctx.project_id, **fields)


def list_with(**fields: Any) -> tuple[str, Build]:
    return "list", lambda ctx: api.ListSecretSyncsRequest(**fields)


def case(case_id: str, call: tuple[str, Build], *fields: str) -> Any:
    method, build = call
    return pytest.param(method, build, fields, id=case_id)


UUID_NO_HYPHENS = "0123456789abcdef0123456789abcdef"
TOO_DEEP = "/" + "/".join(["d"] * 21)

CASES = [
    # --- CreateSecretSync: project_id
    case("create-project_id-empty", create(project_id=""), "project_id"),
    case("create-project_id-not-uuid", create(project_id="my-project"), "project_id"),
    case("create-project_id-no-hyphens", create(project_id=UUID_NO_HYPHENS), "project_id"),
    case("create-project_id-braces", create(project_id="{" + new_id() + "}"), "project_id"),
    # --- name
    case("create-name-empty", create(name=""), "name"),
    case("create-name-uppercase", create(name="My-Sync"), "name"),
    case("create-name-underscore", create(name="my_sync"), "name"),
    case("create-name-double-hyphen", create(name="my--sync"), "name"),
    case("create-name-leading-hyphen", create(name="-my-sync"), "name"),
    case("create-name-trailing-hyphen", create(name="my-sync-"), "name"),
    case("create-name-space", create(name="my sync"), "name"),
    case("create-name-65-chars", create(name="a" * 65), "name"),
    case("create-name-non-ascii", create(name="s\u00fcnc"), "name"),
    # --- description
    case("create-description-257-chars", create(description="d" * 257), "description"),
    case("create-description-control-char", create(description="bell\x07"), "description"),
    case("create-description-escape-char", create(description="\x1b[31mred"), "description"),
    # --- connection_id
    case("create-connection_id-empty", create(connection_id=""), "connection_id"),
    case("create-connection_id-not-uuid", create(connection_id="azure-prod"), "connection_id"),
    case("create-connection_id-no-hyphens", create(connection_id=UUID_NO_HYPHENS), "connection_id"),
    # --- environment
    case("create-environment-empty", create(environment=""), "environment"),
    case("create-environment-uppercase", create(environment="Dev"), "environment"),
    case("create-environment-space", create(environment="de v"), "environment"),
    case("create-environment-65-chars", create(environment="e" * 65), "environment"),
    # --- secret_path
    case("create-secret_path-empty", create(secret_path=""), "secret_path"),
    case("create-secret_path-relative", create(secret_path="my-secrets"), "secret_path"),
    case("create-secret_path-dotdot", create(secret_path="/my-secrets/../x"), "secret_path"),
    case("create-secret_path-double-slash", create(secret_path="/my-secrets//x"), "secret_path"),
    case("create-secret_path-only-slashes", create(secret_path="//"), "secret_path"),
    case("create-secret_path-dot", create(secret_path="/./my-secrets"), "secret_path"),
    case("create-secret_path-too-deep", create(secret_path=TOO_DEEP), "secret_path"),
    case("create-secret_path-space", create(secret_path="/my secrets"), "secret_path"),
    case("create-secret_path-too-long", create(secret_path="/" + "p" * 600), "secret_path"),
    # --- destination_config.vault_base_url
    case("create-vault-empty", create_vault(""), VAULT),
    case("create-vault-http", create_vault("http://my-key-vault.vault.azure.net"), VAULT),
    case("create-vault-wrong-suffix", create_vault("https://my-key-vault.example.com"), VAULT),
    case(
        "create-vault-suffix-not-at-end",
        create_vault("https://my-key-vault.vault.azure.net.evil.com"),
        VAULT,
    ),
    case("create-vault-no-vault-name", create_vault("https://vault.azure.net"), VAULT),
    case("create-vault-path", create_vault("https://my-key-vault.vault.azure.net/x"), VAULT),
    case("create-vault-query", create_vault("https://my-key-vault.vault.azure.net?a=1"), VAULT),
    case("create-vault-fragment", create_vault("https://my-key-vault.vault.azure.net#f"), VAULT),
    case(
        "create-vault-userinfo", create_vault("https://me:pw@my-key-vault.vault.azure.net"), VAULT
    ),
    case(
        "create-vault-port-8443", create_vault("https://my-key-vault.vault.azure.net:8443"), VAULT
    ),
    case("create-vault-name-too-short", create_vault("https://ab.vault.azure.net"), VAULT),
    case("create-vault-name-too-long", create_vault(f"https://v{'a' * 24}.vault.azure.net"), VAULT),
    case("create-vault-name-leading-digit", create_vault("https://1vault.vault.azure.net"), VAULT),
    case("create-vault-name-double-hyphen", create_vault("https://my--kv.vault.azure.net"), VAULT),
    case("create-vault-space", create_vault("https://my key.vault.azure.net"), VAULT),
    case("create-vault-private-ip", create_vault("https://10.1.2.3"), VAULT),
    case("create-vault-no-scheme", create_vault("my-key-vault.vault.azure.net"), VAULT),
    case("create-vault-loopback-http", create_vault("http://127.0.0.1:8443"), VAULT),
    case("create-vault-loopback-userinfo", create_vault("https://u@localhost"), VAULT),
    case("create-vault-loopback-path", create_vault("https://127.0.0.1/vault"), VAULT),
    # --- sync_options.initial_sync_behavior
    case("create-initial-unspecified", create(sync_options=pb.SyncOptions()), INITIAL),
    case("create-initial-99", create_options(initial_sync_behavior=99), INITIAL),
    # --- sync_options.key_schema
    case("create-key_schema-no-secretKey", create_options(key_schema="app-key"), KEY_SCHEMA),
    case(
        "create-key_schema-secretKey-twice",
        create_options(key_schema="{{secretKey}}-{{secretKey}}"),
        KEY_SCHEMA,
    ),
    case(
        "create-key_schema-environment-twice",
        create_options(key_schema="{{environment}}-{{environment}}-{{secretKey}}"),
        KEY_SCHEMA,
    ),
    case("create-key_schema-dot", create_options(key_schema="app.{{secretKey}}"), KEY_SCHEMA),
    case("create-key_schema-space", create_options(key_schema="a {{secretKey}}"), KEY_SCHEMA),
    case("create-key_schema-wrong-case", create_options(key_schema="{{secretkey}}"), KEY_SCHEMA),
    case(
        "create-key_schema-unknown-placeholder",
        create_options(key_schema="{{project}}-{{secretKey}}"),
        KEY_SCHEMA,
    ),
    case(
        "create-key_schema-nested-placeholder",
        create_options(key_schema="{{secret{{secretKey}}Key}}"),
        KEY_SCHEMA,
    ),
    case(
        "create-key_schema-256-chars",
        create_options(key_schema="k" * 243 + "{{secretKey}}"),
        KEY_SCHEMA,
    ),
    # --- request_id
    case("create-request_id-space", create(request_id="req 1"), "request_id"),
    case("create-request_id-129-chars", create(request_id="r" * 129), "request_id"),
    case("create-request_id-non-ascii", create(request_id="r\u00e9q"), "request_id"),
    # --- UpdateSecretSync
    case("update-id-empty", update_id(""), "id"),
    case("update-id-not-uuid", update_id("sync-1"), "id"),
    case("update-name-empty", update(["name"], name=""), "name"),
    case("update-name-uppercase", update(["name"], name="Renamed"), "name"),
    case(
        "update-description-257-chars",
        update(["description"], description="x" * 257),
        "description",
    ),
    case(
        "update-connection_id-not-uuid",
        update(["connection_id"], connection_id="c"),
        "connection_id",
    ),
    case(
        "update-environment-uppercase", update(["environment"], environment="PROD"), "environment"
    ),
    case("update-secret_path-dotdot", update(["secret_path"], secret_path="/a/.."), "secret_path"),
    case(
        "update-vault-wrong-suffix",
        update(
            ["destination_config.vault_base_url"],
            destination_config=pb.AzureKeyVaultDestinationConfig(
                vault_base_url="https://kv.vault.azure.com"
            ),
        ),
        VAULT,
    ),
    case("update-destination_config-empty", update(["destination_config"]), VAULT),
    case(
        "update-key_schema-no-secretKey",
        update(["sync_options.key_schema"], sync_options=pb.SyncOptions(key_schema="x")),
        KEY_SCHEMA,
    ),
    case(
        "update-initial-unspecified",
        update(["sync_options.initial_sync_behavior"], sync_options=pb.SyncOptions()),
        INITIAL,
    ),
    case(
        # "sync_options" names all three options, so the unset behaviour is wrong too.
        "update-sync_options-whole",
        update(["sync_options"], sync_options=pb.SyncOptions(key_schema="x")),
        INITIAL,
        KEY_SCHEMA,
    ),
    case(
        "update-request_id-space",
        update(["description"], description="ok", request_id="a b"),
        "request_id",
    ),
    # --- GetSecretSync
    case("get-id-not-uuid", get_by(id="sync-1"), "id"),
    case("get-nothing", get_by(), "project_id", "name"),
    case("get-name-without-project", get_by(name="my-key-vault-sync"), "project_id"),
    case("get-project-not-uuid", get_by(project_id="p1", name="my-key-vault-sync"), "project_id"),
    case("get-name-uppercase", get_in_project("My-Sync"), "name"),
    case("get-name-65-chars", get_in_project("n" * 65), "name"),
    # --- ListSecretSyncs
    case("list-project_id-empty", list_with(), "project_id"),
    case("list-project_id-not-uuid", list_with(project_id="p1"), "project_id"),
    case("list-page_size-negative", list_in_project(page_size=-1), "page_size"),
    case("list-connection_id-not-uuid", list_in_project(connection_id="c1"), "connection_id"),
    case("list-sync_status-unknown", list_in_project(sync_status=42), "sync_status"),
    case("list-page_token-garbage", list_in_project(page_token="not-a-token"), "page_token"),
    case(
        "list-everything-wrong",
        list_with(project_id="p1", page_size=-5, connection_id="c1", sync_status=9),
        "project_id",
        "page_size",
        "connection_id",
        "sync_status",
    ),
]

CALLS = {
    "create": "CreateSecretSync",
    "update": "UpdateSecretSync",
    "get": "GetSecretSync",
    "list": "ListSecretSyncs",
}


@pytest.mark.parametrize(("method", "build", "fields"), CASES)
def test_invalid_request_is_refused_naming_the_field(server, stub, method, build, fields):
    project_id = create_request().project_id
    existing = stub.CreateSecretSync(create_request(name="existing")).secret_sync
    request = build(Ctx(project_id=project_id, sync_id=existing.id))
    before = event_count(server)

    failure = fails(getattr(stub, CALLS[method]), request)

    assert_invalid(failure, *fields)
    for path in fields:
        assert path in failure.message  # the status message names the fields too
    assert event_count(server) == before
    assert get(stub, existing.id) == existing
    listed = stub.ListSecretSyncs(api.ListSecretSyncsRequest(project_id=project_id))
    assert [s.id for s in listed.secret_syncs] == [existing.id]


def test_every_bad_field_of_a_create_is_named_at_once(server, stub):
    request = api.CreateSecretSyncRequest(
        project_id="not-a-project",
        name="Bad_Name",
        description="x" * 300,
        connection_id="not-a-connection",
        environment="Dev Env",
        secret_path="relative/path",
        is_enabled=True,
        sync_options=pb.SyncOptions(key_schema="no-placeholder"),
        destination_config=pb.AzureKeyVaultDestinationConfig(vault_base_url="http://kv.example"),
        request_id="has spaces",
    )
    before = event_count(server)
    failure = fails(stub.CreateSecretSync, request)
    assert_invalid(
        failure,
        "project_id",
        "name",
        "description",
        "connection_id",
        "environment",
        "secret_path",
        VAULT,
        INITIAL,
        KEY_SCHEMA,
        "request_id",
    )
    assert event_count(server) == before


def test_every_bad_masked_field_of_an_update_is_named_at_once(server, stub):
    created = stub.CreateSecretSync(create_request()).secret_sync
    request = api.UpdateSecretSyncRequest(
        id=created.id,
        etag=created.etag,
        update_mask=mask("name", "secret_path", "destination_config", "sync_options.key_schema"),
        name="UPPER",
        description="x" * 300,  # not masked: not checked
        secret_path="/a//b",
        sync_options=pb.SyncOptions(key_schema="{{secretKey}}{{secretKey}}"),
        destination_config=pb.AzureKeyVaultDestinationConfig(vault_base_url="https://kv.local"),
        request_id="r" * 200,
    )
    before = event_count(server)
    failure = fails(stub.UpdateSecretSync, request)
    assert_invalid(failure, "name", "secret_path", VAULT, KEY_SCHEMA, "request_id")
    assert event_count(server) == before
    assert get(stub, created.id) == created


def test_the_valid_limits_are_accepted(server, stub):
    """The edges the table's rows step over are themselves fine."""
    request = create_request(
        name="n" * 64,
        description="d" * 255 + "\n",  # newline and tab are allowed, other controls are not
        sync_options=pb.SyncOptions(
            initial_sync_behavior=pb.INITIAL_SYNC_BEHAVIOR_IMPORT_PRIORITIZE_DESTINATION,
            # the longest a vault name allows: 126 characters and a one-character key
            key_schema="k" * 126 + "{{secretKey}}",
        ),
        destination_config=pb.AzureKeyVaultDestinationConfig(
            vault_base_url="HTTPS://Abc.Vault.Azure.CN:443/"
        ),
        request_id="r" * 128,
    )
    created = stub.CreateSecretSync(request).secret_sync
    assert len(created.name) == 64 and len(created.sync_options.key_schema) == 139
    assert created.destination_config.vault_base_url == "https://abc.vault.azure.cn"
    for url in (
        "https://" + "v" * 24 + ".vault.usgovcloudapi.net",
        "https://my-kv.vault.microsoftazure.de",
        "https://127.0.0.1:8443",  # loopback hosts: development mode only
        "https://localhost",
        "https://[::1]:9000",
    ):
        moved = stub.UpdateSecretSync(
            api.UpdateSecretSyncRequest(
                id=created.id,
                update_mask=mask("destination_config"),
                destination_config=pb.AzureKeyVaultDestinationConfig(vault_base_url=url),
            )
        ).secret_sync
        assert moved.destination_config.vault_base_url == url
    schema = "{{environment}}-{{secretKey}}_x-Y"
    reshaped = stub.UpdateSecretSync(
        api.UpdateSecretSyncRequest(
            id=created.id,
            update_mask=mask("sync_options.key_schema"),
            sync_options=pb.SyncOptions(key_schema=schema),
        )
    ).secret_sync
    assert reshaped.sync_options.key_schema == schema
