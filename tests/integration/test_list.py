"""ListSecretSyncs: pages by name, page sizes, filters, and project isolation."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api

from tests.conftest import create_request, new_connection, new_id, new_project
from tests.integration.sync_helpers import CALL_TIMEOUT, get, list_all, update

# Names whose byte order differs from a "natural" or locale-aware order: hyphens,
# digits and prefixes of one another.
TRICKY_NAMES = [
    "a", "a-1", "a-b", "a1", "ab", "b-2", "b10", "b2", "z", "0", "0-a", "9-z", "aa",
    "a-a", "a-10", "a-2", "m", "m-m", "mm", "x-1-y", "x1y", "x-1", "zz",
]  # fmt: skip


def create_all(stub, requests: list[api.CreateSecretSyncRequest]) -> list[pb.SecretSync]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = pool.map(lambda r: stub.CreateSecretSync(r, timeout=30), requests)
        return [answer.secret_sync for answer in answers]


def page(stub, project_id: str, page_size: int = 0, token: str = "", **filters):
    return stub.ListSecretSyncs(
        api.ListSecretSyncsRequest(
            project_id=project_id, page_size=page_size, page_token=token, **filters
        ),
        timeout=CALL_TIMEOUT,
    )


def test_paging_returns_every_sync_once_in_name_order(server, stub):
    assert len(TRICKY_NAMES) == 23 == len(set(TRICKY_NAMES))
    project_id = create_request().project_id
    names = TRICKY_NAMES[:]
    random.Random(7).shuffle(names)
    created = {s.name: s for s in create_all(stub, [create_request(name=n) for n in names])}

    seen: list[pb.SecretSync] = []
    sizes, token = [], ""
    while True:
        answer = page(stub, project_id, 5, token)
        sizes.append(len(answer.secret_syncs))
        seen += answer.secret_syncs
        token = answer.next_page_token
        if not token:
            break
        assert len(sizes) < 10, "the listing does not end"
    assert sizes == [5, 5, 5, 5, 3]
    assert [s.name for s in seen] == sorted(TRICKY_NAMES)  # byte order, on both backends
    # Each listed sync is the sync itself, as Get shows it.
    assert {s.name: s for s in seen} == {n: get(stub, s.id) for n, s in created.items()}

    # A page that ends exactly at the last sync has no next token.
    whole = page(stub, project_id, 23)
    assert len(whole.secret_syncs) == 23 and whole.next_page_token == ""
    first = page(stub, project_id, 22)
    assert first.next_page_token
    last = page(stub, project_id, 22, first.next_page_token)
    assert [s.name for s in last.secret_syncs] == [max(TRICKY_NAMES)]
    assert last.next_page_token == ""

    # Page by page, one at a time, the same again.
    assert [s.name for s in list_all(stub, 1, project_id=project_id)] == sorted(TRICKY_NAMES)


def test_pages_see_changes_between_calls(server, stub):
    project_id = create_request().project_id
    for name in ("b", "d", "f"):
        stub.CreateSecretSync(create_request(name=name))
    first = page(stub, project_id, 2)
    assert [s.name for s in first.secret_syncs] == ["b", "d"]
    # Syncs created after the token's position show up; before it, not.
    stub.CreateSecretSync(create_request(name="a"))
    stub.CreateSecretSync(create_request(name="e"))
    rest = page(stub, project_id, 10, first.next_page_token)
    assert [s.name for s in rest.secret_syncs] == ["e", "f"]
    assert rest.next_page_token == ""


def test_page_size_zero_means_50_and_more_than_500_means_500(server, stub):
    project_id = create_request().project_id
    names = [f"sync-{i:03d}" for i in range(501)]
    requests = [create_request(name=n, is_enabled=False) for n in names]
    create_all(stub, requests)

    default = page(stub, project_id, 0)
    assert [s.name for s in default.secret_syncs] == names[:50]
    assert default.next_page_token
    following = page(stub, project_id, 0, default.next_page_token)
    assert [s.name for s in following.secret_syncs] == names[50:100]

    for huge in (501, 10_000, 2**31 - 1):
        capped = page(stub, project_id, huge)
        assert [s.name for s in capped.secret_syncs] == names[:500], huge
        assert capped.next_page_token
        tail = page(stub, project_id, huge, capped.next_page_token)
        assert [s.name for s in tail.secret_syncs] == names[500:]
        assert tail.next_page_token == ""


def test_filters_by_connection_environment_and_sync_status(server, stub, source_stub, channel):
    project_id = create_request().project_id
    source_stub.CreateEnvironment(
        sapi.CreateEnvironmentRequest(project_id=project_id, slug="prod", name="Prod")
    )
    source_stub.CreateFolder(
        sapi.CreateFolderRequest(project_id=project_id, environment="prod", path="/my-secrets")
    )
    conn1, conn2 = new_connection(channel, project_id), new_connection(channel, project_id)
    plan = {
        "a": (conn1, "dev", True),
        "b": (conn1, "prod", True),
        "c": (conn2, "dev", False),  # never synced: sync_status UNSPECIFIED
        "d": (conn2, "prod", True),
    }
    made = {}
    for name, (conn, env, enabled) in plan.items():
        made[name] = stub.CreateSecretSync(
            create_request(name=name, connection_id=conn, environment=env, is_enabled=enabled)
        ).secret_sync
    assert made["c"].sync_status == pb.JOB_STATUS_UNSPECIFIED
    assert made["a"].sync_status == pb.JOB_STATUS_PENDING

    def names(**filters) -> list[str]:
        return [s.name for s in list_all(stub, 0, project_id=project_id, **filters)]

    assert names() == ["a", "b", "c", "d"]
    assert names(connection_id=conn1) == ["a", "b"]
    assert names(connection_id=conn2.upper()) == ["c", "d"]  # ids are case-insensitive
    assert names(connection_id=new_id()) == []
    assert names(environment="dev") == ["a", "c"]
    assert names(environment="prod") == ["b", "d"]
    assert names(environment="staging") == []
    assert names(sync_status=pb.JOB_STATUS_PENDING) == ["a", "b", "d"]
    assert names(sync_status=pb.JOB_STATUS_UNSPECIFIED) == ["a", "b", "c", "d"]  # no filter
    assert names(sync_status=pb.JOB_STATUS_SUCCEEDED) == []
    assert names(connection_id=conn2, environment="prod") == ["d"]
    assert names(connection_id=conn2, sync_status=pb.JOB_STATUS_PENDING) == ["d"]
    assert names(connection_id=conn1, environment="prod", sync_status=pb.JOB_STATUS_PENDING) == [
        "b"
    ]

    # Paging with a filter keeps to the filter.
    first = page(stub, project_id, 1, environment="prod")
    assert [s.name for s in first.secret_syncs] == ["b"]
    rest = page(stub, project_id, 1, first.next_page_token, environment="prod")
    assert [s.name for s in rest.secret_syncs] == ["d"]
    assert rest.next_page_token == ""

    # Filters follow changes: c moves to prod and to conn1, then is enabled (a sync job).
    update(stub, made["c"].id, ["environment", "connection_id"], environment="prod",
           connection_id=conn1)  # fmt: skip
    assert names(environment="prod") == ["b", "c", "d"]
    assert names(connection_id=conn1) == ["a", "b", "c"]
    assert names(sync_status=pb.JOB_STATUS_PENDING) == ["a", "b", "d"]
    update(stub, made["c"].id, ["is_enabled"], is_enabled=True)
    assert names(sync_status=pb.JOB_STATUS_PENDING) == ["a", "b", "c", "d"]
    stub.DeleteSecretSync(api.DeleteSecretSyncRequest(id=made["b"].id))
    assert names(environment="prod") == ["c", "d"]


def test_syncs_of_another_project_never_appear(server, stub, channel):
    mine = create_request().project_id
    theirs = new_project(channel)
    for name in ("alpha", "beta", "gamma"):
        stub.CreateSecretSync(create_request(project_id=mine, name=name))
    for name in ("beta", "delta"):  # the same name in another project is another sync
        stub.CreateSecretSync(create_request(project_id=theirs, name=name))

    listed_mine = list_all(stub, 2, project_id=mine)
    listed_theirs = list_all(stub, 1, project_id=theirs)
    assert [s.name for s in listed_mine] == ["alpha", "beta", "gamma"]
    assert [s.name for s in listed_theirs] == ["beta", "delta"]
    assert {s.project_id for s in listed_mine} == {mine}
    assert {s.project_id for s in listed_theirs} == {theirs}
    assert not {s.id for s in listed_mine} & {s.id for s in listed_theirs}
    # Upper-case project ids name the same project; an unknown project has no syncs.
    assert [s.name for s in list_all(stub, 0, project_id=mine.upper())] == [
        "alpha",
        "beta",
        "gamma",
    ]
    assert list_all(stub, 0, project_id=new_id()) == []
