"""Paging of the lists that can grow, over a real server (SQLite and PostgreSQL): each
list answers page by page with opaque tokens, a caller that sends no page size gets the
whole list while it fits the default page, and a garbled, foreign or cross-filter token
is INVALID_ARGUMENT naming page_token with nothing else said."""

from __future__ import annotations

import base64
import json

import grpc
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2 as capi
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2_grpc as cgrpc
from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi

from service.api import paging
from tests.integration.test_source_api import (  # noqa: F401
    Source,
    fails,
    release_stopped_servers,
)

SECRETS_DEFAULT_PAGE = 1000  # as ListSecretsRequest.page_size states


def every_page(call, request, field: str, pages: list[int] | None = None) -> list:
    items, seen = [], 0
    while True:
        page = call(request)
        items += getattr(page, field)
        if pages is not None:
            pages.append(len(getattr(page, field)))
        if not page.next_page_token:
            return items
        request.page_token = page.next_page_token
        seen += 1
        assert seen < 100, "paging does not end"


def test_ten_thousand_secrets_come_page_by_page_never_above_the_default(channel):
    source = Source(channel, folders=("/big",))
    keys = [f"KEY_{n:05d}" for n in range(10_000)]
    source.stub.BulkSetSecrets(
        sapi.BulkSetSecretsRequest(
            **source.place("/big"), secrets=[spb.Secret(key=k, value="v") for k in keys]
        ),
        timeout=120,
    )
    sizes: list[int] = []
    listed = every_page(
        source.stub.ListSecrets, sapi.ListSecretsRequest(**source.place("/big")), "secrets", sizes
    )
    assert [s.key for s in listed] == keys  # by key, each once
    assert max(sizes) == SECRETS_DEFAULT_PAGE and len(sizes) == 10

    small: list[int] = []
    request = sapi.ListSecretsRequest(**source.place("/big"), page_size=3000)  # above the max
    assert len(every_page(source.stub.ListSecrets, request, "secrets", small)) == 10_000
    assert max(small) == SECRETS_DEFAULT_PAGE


def test_a_caller_sending_no_page_size_gets_the_whole_short_list_in_one_answer(channel):
    source = Source(channel, folders=("/app", "/app/a", "/app/b", "/app/c"))
    source.stub.BulkSetSecrets(
        sapi.BulkSetSecretsRequest(
            **source.place("/app"), secrets=[spb.Secret(key=f"K{n}", value="v") for n in range(5)]
        )
    )
    answer = source.stub.ListSecrets(sapi.ListSecretsRequest(**source.place("/app")))
    assert (len(answer.secrets), answer.next_page_token) == (5, "")
    folders = source.stub.ListFolders(sapi.ListFoldersRequest(**source.place("/app")))
    assert ([f.path for f in folders.folders], folders.next_page_token) == (
        ["/app/a", "/app/b", "/app/c"],
        "",
    )
    envs = source.stub.ListEnvironments(sapi.ListEnvironmentsRequest(project_id=source.project_id))
    assert ([e.slug for e in envs.environments], envs.next_page_token) == (["dev"], "")


def test_every_folder_list_pages_in_its_order(channel):
    source = Source(channel, folders=("/app", "/lib", "/my-secrets", "/src"))
    for slug in ("prod", "qa", "stage"):
        source.env(slug)
    for path in ("/lib", "/src", "/app"):
        source.stub.CreateSecretImport(
            sapi.CreateSecretImportRequest(
                **source.place("/my-secrets"),
                secret_import=spb.SecretImport(environment="dev", path=path),
            )
        )
    source.stub.BulkSetSecrets(
        sapi.BulkSetSecretsRequest(
            **source.place("/app"), secrets=[spb.Secret(key=k, value="v") for k in "EDCBA"]
        )
    )
    stub, project = source.stub, {"project_id": source.project_id}
    envs = every_page(
        stub.ListEnvironments, sapi.ListEnvironmentsRequest(**project, page_size=2), "environments"
    )
    assert [e.slug for e in envs] == ["dev", "prod", "qa", "stage"]
    folders = every_page(
        stub.ListFolders, sapi.ListFoldersRequest(**source.place("/"), page_size=2), "folders"
    )
    assert [f.path for f in folders] == ["/app", "/lib", "/my-secrets", "/src"]
    secrets = every_page(
        stub.ListSecrets, sapi.ListSecretsRequest(**source.place("/app"), page_size=2), "secrets"
    )
    assert [s.key for s in secrets] == list("ABCDE")
    imports = every_page(
        stub.ListSecretImports,
        sapi.ListSecretImportsRequest(**source.place("/my-secrets"), page_size=2),
        "secret_imports",
    )
    assert [i.path for i in imports] == ["/lib", "/src", "/app"]  # the order they apply


def forged(listing: str, filters: dict, position) -> str:
    return paging.page_token(listing, filters, position)


def test_garbled_foreign_and_cross_filter_tokens_are_refused_naming_page_token(channel):
    source = Source(channel, folders=("/app", "/lib"))
    source.stub.BulkSetSecrets(
        sapi.BulkSetSecretsRequest(
            **source.place("/app"), secrets=[spb.Secret(key=k, value="v") for k in "ABC"]
        )
    )
    first = source.stub.ListSecrets(sapi.ListSecretsRequest(**source.place("/app"), page_size=1))
    token = first.next_page_token
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert token and not raw.startswith(b"{")  # sealed (docs/auth.md): nothing to read
    folders = source.stub.ListFolders(sapi.ListFoldersRequest(**source.place("/"), page_size=1))
    bad_tokens = {
        "garbled": token[:-3] + "xyz",
        "not base64 json": "A" * 5,
        "the raw last key": "A",
        "of another list": folders.next_page_token,
        "of another folder": forged("secrets", {"project_id": "x"}, "A"),
        "with values, made without": None,
        "a position of the wrong type": paging.page_token("secrets", {}, 7)[:-1] + "A",
        "edited": base64.urlsafe_b64encode(raw[:-1] + bytes([raw[-1] ^ 1])).decode(),
        "readable, as they were": base64.urlsafe_b64encode(
            json.dumps({"v": 1, "l": "secrets", "f": "0" * 22, "p": "A"}).encode()
        ).decode(),
    }
    for name, bad in bad_tokens.items():
        request = sapi.ListSecretsRequest(**source.place("/app"), page_size=1)
        if bad is None:
            request.include_values, bad = True, token
        request.page_token = bad
        refused = fails(source.stub.ListSecrets, request)
        assert (refused.code, refused.reason, refused.fields) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
            ["page_token"],
        ), name

    other = sapi.ListSecretsRequest(**source.place("/lib"), page_size=1, page_token=token)
    assert fails(source.stub.ListSecrets, other).fields == ["page_token"]


def test_connections_and_projects_no_longer_take_a_raw_name_as_token(channel):
    source = Source(channel)
    connections = cgrpc.AzureConnectionServiceStub(channel)
    for raw_name in ("a", "zzz"):
        request = capi.ListAzureConnectionsRequest(
            project_id=source.project_id, page_token=raw_name
        )
        assert fails(connections.ListAzureConnections, request).fields == ["page_token"]
        projects = sapi.ListProjectsRequest(page_token=raw_name)
        assert fails(source.stub.ListProjects, projects).fields == ["page_token"]
