"""The server around the API: health, reflection, rebuilding the view from the event
log, and data that survives a restart."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from urllib.parse import parse_qs, urlsplit

import grpc
import psycopg
from google.protobuf import descriptor_pool, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from adapters.sync_view import COLUMNS, SyncRow
from service.views.rebuild import rebuild
from tests.conftest import (
    POSTGRES_ADMIN_URL,
    create_request,
    new_id,
    new_project,
    start_server,
)
from tests.integration.sync_helpers import (
    CALL_TIMEOUT,
    SERVICE,
    assert_error,
    fails,
    get,
    list_all,
    mask,
    poll,
    update,
)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SOURCE_SERVICE = "hanzo.kms.secretsync.v1.SecretSourceService"
HEALTH_SERVICE = "grpc.health.v1.Health"
REFLECTION_SERVICE = "grpc.reflection.v1alpha.ServerReflection"
METHODS = {
    "CreateSecretSync",
    "GetSecretSync",
    "ListSecretSyncs",
    "UpdateSecretSync",
    "DeleteSecretSync",
    "TriggerSecretSync",
    "ImportSecrets",
    "RemoveSecrets",
    "WatchSecretSync",
}


def health_of(channel: grpc.Channel, service: str) -> int:
    health = health_pb2_grpc.HealthStub(channel)
    request = health_pb2.HealthCheckRequest(service=service)
    return health.Check(request, timeout=CALL_TIMEOUT).status


def test_health_is_serving_soon_after_start(database_url):
    server = start_server(database_url)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            # NOT_SERVING until the view is known to have caught up, then SERVING.
            for service in ("", SERVICE):
                poll(lambda s=service: health_of(channel, s), lambda st: st == SERVING, 5.0)
            try:
                health_of(channel, "no.such.Service")
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.NOT_FOUND
            else:
                raise AssertionError("an unknown service has a health status")
    finally:
        server.stop(grace=1.0)


def test_health_turns_not_serving_on_shutdown(server, channel):
    poll(lambda: health_of(channel, SERVICE), lambda st: st == SERVING, 5.0)
    watch = health_pb2_grpc.HealthStub(channel).Watch(
        health_pb2.HealthCheckRequest(service=SERVICE), timeout=10.0
    )
    assert next(watch).status == SERVING
    stopper = threading.Thread(target=server.stop, kwargs={"grace": 1.0})
    stopper.start()
    try:
        assert next(watch).status == NOT_SERVING
    finally:
        stopper.join(10.0)
    assert not stopper.is_alive()


def test_reflection_lists_and_describes_the_services(server, channel):
    database = ProtoReflectionDescriptorDatabase(channel)
    services = set(database.get_services())
    assert {SERVICE, SOURCE_SERVICE, HEALTH_SERVICE, REFLECTION_SERVICE} <= services

    # The raw ServerReflection stream says the same.
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    (answer,) = reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=CALL_TIMEOUT
    )
    assert {s.name for s in answer.list_services_response.service} == services

    # The descriptors served are complete enough to call the API with no generated code.
    pool = descriptor_pool.DescriptorPool(database)
    service = pool.FindServiceByName(SERVICE)
    assert {m.name for m in service.methods} == METHODS
    watch = service.methods_by_name["WatchSecretSync"]
    assert watch.server_streaming and not watch.client_streaming
    create = service.methods_by_name["CreateSecretSync"]
    assert create.input_type.full_name == "hanzo.kms.secretsync.v1.CreateSecretSyncRequest"
    assert "sync_options" in create.input_type.fields_by_name

    created = api_grpc.SecretSyncServiceStub(channel).CreateSecretSync(create_request())
    get_method = service.methods_by_name["GetSecretSync"]
    request_class = message_factory.GetMessageClass(get_method.input_type)
    response_class = message_factory.GetMessageClass(get_method.output_type)
    call = channel.unary_unary(
        f"/{SERVICE}/GetSecretSync",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response_class.FromString,
    )
    dynamic = call(request_class(id=created.secret_sync.id), timeout=CALL_TIMEOUT)
    assert dynamic.secret_sync.name == created.secret_sync.name
    assert dynamic.SerializeToString(deterministic=True) == api.GetSecretSyncResponse(
        secret_sync=created.secret_sync
    ).SerializeToString(deterministic=True)


def make_history(stub, channel) -> list[str]:
    """Several syncs with varied histories; returns the ids of those still there."""
    other_project = new_project(channel)
    ids = []
    for i in range(6):
        ids.append(
            stub.CreateSecretSync(
                create_request(name=f"sync-{i}", is_enabled=i % 2 == 0)
            ).secret_sync.id
        )
    ids.append(
        stub.CreateSecretSync(
            create_request(project_id=other_project, name="sync-0")
        ).secret_sync.id
    )
    update(stub, ids[0], ["description", "name"], description="renamed", name="renamed-0")
    update(
        stub,
        ids[1],
        ["is_enabled", "sync_options"],
        is_enabled=True,
        sync_options=pb.SyncOptions(
            initial_sync_behavior=pb.INITIAL_SYNC_BEHAVIOR_IMPORT_PRIORITIZE_SOURCE,
            key_schema="{{environment}}-{{secretKey}}",
            disable_secret_deletion=True,
        ),
    )
    stub.TriggerSecretSync(api.TriggerSecretSyncRequest(id=ids[2]))
    stub.ImportSecrets(
        api.ImportSecretsRequest(id=ids[3], import_behavior=pb.IMPORT_BEHAVIOR_PRIORITIZE_SOURCE)
    )
    stub.RemoveSecrets(api.RemoveSecretsRequest(id=ids[3]))
    stub.DeleteSecretSync(api.DeleteSecretSyncRequest(id=ids[4], remove_secrets=True))
    stub.DeleteSecretSync(api.DeleteSecretSyncRequest(id=ids[5]))
    update(
        stub,
        ids[2],
        ["destination_config"],
        destination_config=pb.AzureKeyVaultDestinationConfig(
            vault_base_url="https://other-vault.vault.azure.cn"
        ),
    )
    return [i for i in ids if i != ids[5]]


def answers(stub, ids: list[str], project_ids: set[str]) -> tuple:
    """What the API shows: each sync, and each project's listing."""
    return (
        [get(stub, i) for i in ids],
        {p: list_all(stub, 2, project_id=p) for p in sorted(project_ids)},
    )


def stored_rows(database_url: str) -> list[SyncRow]:
    """The secret_syncs table as stored, read with a plain database connection."""
    query = f"SELECT {COLUMNS} FROM {{table}} ORDER BY id"
    if database_url.startswith("sqlite"):
        with closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as conn:
            return [SyncRow(*r) for r in conn.execute(query.format(table="secret_syncs"))]
    schema = parse_qs(urlsplit(database_url).query)["schema"][0]
    with psycopg.connect(POSTGRES_ADMIN_URL) as conn:
        table = f'"{schema}".secret_syncs'
        return [SyncRow(*r) for r in conn.execute(query.format(table=table))]


def tamper(database_url: str, live: list[SyncRow]) -> None:
    """Damage the view behind the service's back: change a row, drop one, add a stray."""
    statements = [
        ("UPDATE {table} SET name = 'tampered', version = 999 WHERE id = %s", (live[0].id,)),
        ("DELETE FROM {table} WHERE id = %s", (live[1].id,)),
        (
            f"INSERT INTO {{table}} ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (new_id(), live[2].project_id, "stray", new_id(), "dev", "", 0, 1, live[2].record),
        ),
    ]
    if database_url.startswith("sqlite"):
        with closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as conn, conn:
            for sql, params in statements:
                conn.execute(sql.format(table="secret_syncs").replace("%s", "?"), params)
        return
    schema = parse_qs(urlsplit(database_url).query)["schema"][0]
    with psycopg.connect(POSTGRES_ADMIN_URL) as conn:
        for sql, params in statements:
            conn.execute(sql.format(table=f'"{schema}".secret_syncs'), params)


def test_rebuild_replays_the_log_into_the_same_view(server, stub, channel):
    ids = make_history(stub, channel)
    projects = {get(stub, i).project_id for i in ids}
    live_rows = server.view.all_rows()
    live_answers = answers(stub, ids, projects)
    assert sorted(r.id for r in live_rows) == sorted(ids)
    config = server.config
    server.stop(grace=1.0)
    tamper(config.database_url, live_rows)
    assert stored_rows(config.database_url) != live_rows

    assert rebuild(config, report_every=0.1) == len(live_rows)
    # Read the rebuilt table directly: a server would catch up on its own and hide
    # a replay that stopped early.
    assert stored_rows(config.database_url) == live_rows

    restarted = start_server(config.database_url)
    try:
        assert restarted.view.all_rows() == live_rows
        with grpc.insecure_channel(f"127.0.0.1:{restarted.port}") as again:
            assert answers(api_grpc.SecretSyncServiceStub(again), ids, projects) == live_answers
    finally:
        restarted.stop(grace=1.0)


def run_sql(database_url: str, statements: list[str]) -> None:
    """Statements on the view's table ({table}), behind the service's back."""
    if database_url.startswith("sqlite"):
        with closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as conn, conn:
            for sql in statements:
                conn.execute(sql.format(table="secret_syncs"))
        return
    schema = parse_qs(urlsplit(database_url).query)["schema"][0]
    with psycopg.connect(POSTGRES_ADMIN_URL) as conn:
        for sql in statements:
            conn.execute(sql.format(table=f'"{schema}".secret_syncs'))


def test_a_view_made_by_an_older_version_is_rebuilt_at_start(server, stub, channel):
    ids = make_history(stub, channel)
    live_rows = server.view.all_rows()
    database_url = server.config.database_url
    server.stop(grace=1.0)
    # The view as the version before open_jobs made it (the index goes with it).
    run_sql(database_url, ["DROP INDEX IF EXISTS secret_syncs_open_jobs",
                           "ALTER TABLE {table} DROP COLUMN open_jobs"])

    restarted = start_server(database_url)
    try:
        deadline = time.monotonic() + 20
        while restarted.view.all_rows() != live_rows and time.monotonic() < deadline:
            time.sleep(0.05)  # the replay runs in the background
        assert restarted.view.all_rows() == live_rows
        assert sorted(r.id for r in restarted.view.rows_with_open_jobs(100)) == sorted(
            r.id for r in live_rows if r.open_jobs
        )
    finally:
        restarted.stop(grace=1.0)
    assert len(live_rows) == len(ids) and any(r.open_jobs for r in live_rows)


def test_data_survives_a_restart(server, stub, channel):
    ids = make_history(stub, channel)
    projects = {get(stub, i).project_id for i in ids}
    before = answers(stub, ids, projects)
    database_url = server.config.database_url
    server.stop(grace=1.0)

    restarted = start_server(database_url)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{restarted.port}") as again:
            stub2 = api_grpc.SecretSyncServiceStub(again)
            assert answers(stub2, ids, projects) == before
            # It carries on where it stopped: etags still match, names are still taken.
            current = get(stub2, ids[0])
            changed = update(stub2, ids[0], ["description"], etag=current.etag, description="on")
            assert changed.version == current.version + 1
            taken = fails(
                stub2.CreateSecretSync,
                create_request(project_id=current.project_id, name="renamed-0"),
            )
            assert_error(taken, grpc.StatusCode.ALREADY_EXISTS, "NAME_TAKEN")
            freed = stub2.CreateSecretSync(
                create_request(project_id=current.project_id, name="sync-0")
            ).secret_sync
            assert freed.id not in ids
            pending = get(stub2, ids[3])
            assert pending.import_status == pending.remove_status == pb.JOB_STATUS_PENDING
            assert get(stub2, ids[4]).remove_status == pb.JOB_STATUS_PENDING
            stub2.UpdateSecretSync(
                api.UpdateSecretSyncRequest(
                    id=ids[1], update_mask=mask("description"), description="after restart"
                )
            )
            assert get(stub2, ids[1]).description == "after restart"
    finally:
        restarted.stop(grace=1.0)
