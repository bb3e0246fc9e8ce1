"""The life of a sync over real gRPC: create, read, update, request jobs, delete.

Every mutation is followed at once by a Get that must see exactly what the mutation
returned (read-your-writes), and the event store is checked for what was recorded.
"""

from __future__ import annotations

import uuid

import grpc
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api

from tests.conftest import create_request, event_count
from tests.integration.sync_helpers import (
    CALL_TIMEOUT,
    assert_error,
    event_types,
    events_of,
    fails,
    get,
    get_by_name,
    mask,
    update,
)

NOT_FOUND = grpc.StatusCode.NOT_FOUND
BEING_DELETED = (grpc.StatusCode.FAILED_PRECONDITION, "SYNC_BEING_DELETED")


def is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def sync_requests(server, sync_id: str) -> list:
    return [e for e in events_of(server, sync_id) if type(e).__name__ == "SyncRequested"]


def test_create_read_update_request_jobs_and_delete(server, stub):
    request = create_request(name="orders", description="first")
    before = event_count(server)
    created = stub.CreateSecretSync(request, timeout=CALL_TIMEOUT).secret_sync
    assert event_count(server) > before
    assert is_uuid(created.id)
    assert (created.name, created.description, created.project_id) == (
        "orders",
        "first",
        request.project_id,
    )
    assert created.is_enabled and created.version > 0 and created.etag
    assert created.connection_id == request.connection_id
    assert (created.connection.app, created.connection.id) == ("azure", request.connection_id)
    assert created.connection.name.startswith("c-")  # new_project's connection, by name
    assert created.destination == "azure-key-vault"
    assert created.destination_config == request.destination_config
    assert created.sync_options == request.sync_options
    assert (created.environment.slug, created.folder.path) == ("dev", "/my-secrets")
    assert created.environment.id and created.folder.id and not created.source_problem
    assert created.sync_status == pb.JOB_STATUS_PENDING and is_uuid(created.last_sync_job_id)
    assert (created.import_status, created.remove_status) == (pb.JOB_STATUS_UNSPECIFIED,) * 2
    assert (created.last_import_job_id, created.last_remove_job_id) == ("", "")
    assert created.created_at.seconds > 0
    assert created.updated_at.ToDatetime() >= created.created_at.ToDatetime()
    assert get(stub, created.id) == created
    assert get_by_name(stub, created.project_id, "orders") == created

    updated = update(stub, created.id, ["description"], etag=created.etag, description="second")
    assert updated.description == "second"
    assert updated.version == created.version + 1
    assert updated.etag != created.etag
    # A description is not what the vault sees: no new sync job.
    assert updated.last_sync_job_id == created.last_sync_job_id
    assert updated.updated_at.ToDatetime() >= created.updated_at.ToDatetime()
    assert updated.created_at == created.created_at
    assert get(stub, created.id) == updated

    triggered = stub.TriggerSecretSync(
        api.TriggerSecretSyncRequest(id=created.id), timeout=CALL_TIMEOUT
    )
    sync = triggered.secret_sync
    assert is_uuid(triggered.job_id) and triggered.job_id != created.last_sync_job_id
    assert (sync.sync_status, sync.last_sync_job_id) == (pb.JOB_STATUS_PENDING, triggered.job_id)
    assert sync.version > updated.version
    assert get(stub, created.id) == sync

    imported = stub.ImportSecrets(
        api.ImportSecretsRequest(
            id=created.id, import_behavior=pb.IMPORT_BEHAVIOR_PRIORITIZE_DESTINATION
        ),
        timeout=CALL_TIMEOUT,
    )
    sync = imported.secret_sync
    assert is_uuid(imported.job_id)
    assert (sync.import_status, sync.last_import_job_id) == (pb.JOB_STATUS_PENDING, imported.job_id)
    assert sync.last_sync_job_id == triggered.job_id
    assert get(stub, created.id) == sync

    removed = stub.RemoveSecrets(api.RemoveSecretsRequest(id=created.id), timeout=CALL_TIMEOUT)
    sync = removed.secret_sync
    assert is_uuid(removed.job_id)
    assert (sync.remove_status, sync.last_remove_job_id) == (pb.JOB_STATUS_PENDING, removed.job_id)
    assert get(stub, created.id) == sync
    job_ids = {created.last_sync_job_id, triggered.job_id, imported.job_id, removed.job_id}
    assert len(job_ids) == 4

    before = event_count(server)
    deleted = stub.DeleteSecretSync(
        api.DeleteSecretSyncRequest(id=created.id, etag=sync.etag), timeout=CALL_TIMEOUT
    )
    assert event_count(server) > before
    assert (deleted.deleted, deleted.remove_job_id) == (True, "")
    assert (deleted.secret_sync.id, deleted.secret_sync.name) == (created.id, "orders")
    assert_error(
        fails(stub.GetSecretSync, api.GetSecretSyncRequest(id=created.id)),
        NOT_FOUND,
        "SECRET_SYNC_NOT_FOUND",
    )
    by_name = api.GetSecretSyncRequest(project_id=created.project_id, name="orders")
    assert_error(fails(stub.GetSecretSync, by_name), NOT_FOUND, "SECRET_SYNC_NOT_FOUND")

    assert event_types(server, created.id) == [
        "Created",
        "SyncRequested",
        "Updated",
        "SyncRequested",
        "ImportRequested",
        "RemoveRequested",
        "Deleted",
    ]
    recorded = {type(e).__name__: e for e in events_of(server, created.id)}  # the last of each
    assert [e.reason for e in sync_requests(server, created.id)] == ["created", "manual"]
    assert recorded["ImportRequested"].import_behavior == "prioritize-destination"
    assert recorded["RemoveRequested"].then_delete is False
    assert recorded["Updated"].changes == {"description": ["first", "second"]}
    assert {e.actor for e in events_of(server, created.id)} == {"anonymous"}


def test_is_enabled_decides_whether_a_sync_job_is_requested(server, stub):
    enabled = stub.CreateSecretSync(create_request(name="on", is_enabled=True)).secret_sync
    assert enabled.sync_status == pb.JOB_STATUS_PENDING
    (first,) = sync_requests(server, enabled.id)
    assert (first.reason, first.job_id) == ("created", enabled.last_sync_job_id)

    disabled = stub.CreateSecretSync(create_request(name="off", is_enabled=False)).secret_sync
    assert not disabled.is_enabled
    assert (disabled.sync_status, disabled.last_sync_job_id) == (pb.JOB_STATUS_UNSPECIFIED, "")
    assert sync_requests(server, disabled.id) == []
    assert get(stub, disabled.id) == disabled

    # Without auto-sync a sync runs only when triggered, and a trigger works.
    triggered = stub.TriggerSecretSync(api.TriggerSecretSyncRequest(id=disabled.id))
    assert triggered.secret_sync.sync_status == pb.JOB_STATUS_PENDING
    assert triggered.secret_sync.last_sync_job_id == triggered.job_id
    assert not triggered.secret_sync.is_enabled
    (manual,) = sync_requests(server, disabled.id)
    assert manual.reason == "manual"
    disabled = get(stub, disabled.id)
    assert disabled == triggered.secret_sync

    # Off -> on requests a sync at once.
    turned_on = update(stub, disabled.id, ["is_enabled"], etag=disabled.etag, is_enabled=True)
    assert turned_on.is_enabled
    assert turned_on.sync_status == pb.JOB_STATUS_PENDING
    assert turned_on.last_sync_job_id not in ("", triggered.job_id)
    (_, request) = sync_requests(server, disabled.id)
    assert (request.reason, request.job_id) == ("updated", turned_on.last_sync_job_id)
    assert get(stub, disabled.id) == turned_on

    # On -> off requests nothing.
    turned_off = update(stub, enabled.id, ["is_enabled"], is_enabled=False)
    assert not turned_off.is_enabled
    assert turned_off.last_sync_job_id == enabled.last_sync_job_id
    assert len(sync_requests(server, enabled.id)) == 1
    # While off, a change the vault would see requests nothing either.
    quiet = update(
        stub,
        enabled.id,
        ["sync_options.key_schema"],
        sync_options=pb.SyncOptions(key_schema="app-{{secretKey}}"),
    )
    assert quiet.sync_options.key_schema == "app-{{secretKey}}"
    assert len(sync_requests(server, enabled.id)) == 1

    # On an auto-sync sync, a description change requests nothing, a key schema change does.
    described = update(stub, turned_on.id, ["description"], description="new words")
    assert described.last_sync_job_id == turned_on.last_sync_job_id
    assert len(sync_requests(server, turned_on.id)) == 2
    reshaped = update(
        stub,
        turned_on.id,
        ["sync_options.key_schema"],
        sync_options=pb.SyncOptions(key_schema="{{environment}}-{{secretKey}}"),
    )
    assert reshaped.last_sync_job_id not in ("", turned_on.last_sync_job_id)
    reasons = [e.reason for e in sync_requests(server, turned_on.id)]
    assert reasons == ["manual", "updated", "updated"]
    assert get(stub, turned_on.id) == reshaped


def test_an_update_that_changes_nothing_records_nothing(server, stub):
    request = create_request(
        sync_options=pb.SyncOptions(
            initial_sync_behavior=pb.INITIAL_SYNC_BEHAVIOR_IMPORT_PRIORITIZE_SOURCE,
            key_schema="kv-{{secretKey}}",
            disable_secret_deletion=True,
        )
    )
    created = stub.CreateSecretSync(request).secret_sync
    before = event_count(server)
    same = [
        (["description"], {"description": request.description}),
        (["name"], {"name": request.name}),
        (["is_enabled"], {"is_enabled": True}),
        (["connection_id"], {"connection_id": request.connection_id.upper()}),
        (["secret_path"], {"secret_path": "/my-secrets/"}),  # normalised to the same path
        (["sync_options"], {"sync_options": request.sync_options}),
        (["destination_config"], {"destination_config": request.destination_config}),
        (
            ["description", "environment"],
            {"description": request.description, "environment": "dev"},
        ),
    ]
    for paths, fields in same:
        unchanged = update(stub, created.id, paths, etag=created.etag, **fields)
        assert unchanged == created, paths
    assert event_count(server) == before
    assert get(stub, created.id) == created


def test_fields_outside_the_mask_are_ignored(server, stub):
    created = stub.CreateSecretSync(create_request()).secret_sync
    changed = update(
        stub,
        created.id,
        ["description"],
        description="only this",
        name="Not A Valid Name",  # not masked: neither checked nor applied
        secret_path="relative",
        destination_config=pb.AzureKeyVaultDestinationConfig(vault_base_url="http://x"),
    )
    assert changed.description == "only this"
    assert (changed.name, changed.folder.path) == (created.name, created.folder.path)
    assert changed.destination_config == created.destination_config
    assert get(stub, created.id) == changed


def test_a_rename_frees_the_old_name_and_takes_the_new_one(server, stub):
    first = stub.CreateSecretSync(create_request(name="alpha")).secret_sync
    renamed = update(stub, first.id, ["name"], etag=first.etag, name="beta")
    assert (renamed.id, renamed.name) == (first.id, "beta")
    assert get_by_name(stub, first.project_id, "beta") == renamed
    assert get(stub, first.id) == renamed
    old = api.GetSecretSyncRequest(project_id=first.project_id, name="alpha")
    assert_error(fails(stub.GetSecretSync, old), NOT_FOUND, "SECRET_SYNC_NOT_FOUND")

    # The old name is free for another sync; the new one is taken.
    second = stub.CreateSecretSync(create_request(name="alpha")).secret_sync
    assert second.id != first.id
    before = event_count(server)
    taken = fails(stub.CreateSecretSync, create_request(name="beta"))
    assert_error(taken, grpc.StatusCode.ALREADY_EXISTS, "NAME_TAKEN")
    assert "beta" in taken.message
    onto = fails(
        stub.UpdateSecretSync,
        api.UpdateSecretSyncRequest(id=second.id, update_mask=mask("name"), name="beta"),
    )
    assert_error(onto, grpc.StatusCode.ALREADY_EXISTS, "NAME_TAKEN")
    assert event_count(server) == before
    assert get(stub, second.id) == second

    # Renaming again frees "beta".
    update(stub, first.id, ["name"], name="gamma")
    moved = update(stub, second.id, ["name"], etag=second.etag, name="beta")
    assert get_by_name(stub, first.project_id, "beta") == moved
    assert get_by_name(stub, first.project_id, "gamma").id == first.id


def test_get_by_id_wins_over_project_and_name(server, stub):
    one = stub.CreateSecretSync(create_request(name="one")).secret_sync
    two = stub.CreateSecretSync(create_request(name="two")).secret_sync
    mixed = api.GetSecretSyncRequest(id=one.id.upper(), project_id=two.project_id, name="two")
    assert stub.GetSecretSync(mixed).secret_sync == one
    assert get_by_name(stub, two.project_id.upper(), "two") == two


def test_delete_frees_the_name(server, stub):
    first = stub.CreateSecretSync(create_request(name="reused")).secret_sync
    gone = stub.DeleteSecretSync(api.DeleteSecretSyncRequest(id=first.id))
    assert gone.deleted
    again = stub.CreateSecretSync(create_request(name="reused")).secret_sync
    assert again.id != first.id
    assert get_by_name(stub, first.project_id, "reused") == again
    listed = stub.ListSecretSyncs(api.ListSecretSyncsRequest(project_id=first.project_id))
    assert [s.id for s in listed.secret_syncs] == [again.id]
    assert_error(
        fails(stub.GetSecretSync, api.GetSecretSyncRequest(id=first.id)),
        NOT_FOUND,
        "SECRET_SYNC_NOT_FOUND",
    )


def test_delete_with_remove_secrets_waits_for_the_removal(server, stub):
    created = stub.CreateSecretSync(create_request(name="leaving")).secret_sync
    before = event_count(server)
    answer = stub.DeleteSecretSync(
        api.DeleteSecretSyncRequest(id=created.id, etag=created.etag, remove_secrets=True),
        timeout=CALL_TIMEOUT,
    )
    assert event_count(server) > before
    assert answer.deleted is False
    assert is_uuid(answer.remove_job_id)
    sync = answer.secret_sync
    assert (sync.remove_status, sync.last_remove_job_id) == (
        pb.JOB_STATUS_PENDING,
        answer.remove_job_id,
    )
    assert sync.version == created.version + 1
    # Still there, by id, by name and in the listing.
    assert get(stub, created.id) == sync
    assert get_by_name(stub, created.project_id, "leaving") == sync
    listed = stub.ListSecretSyncs(api.ListSecretSyncsRequest(project_id=created.project_id))
    assert [s.id for s in listed.secret_syncs] == [created.id]
    assert events_of(server, created.id)[-1].then_delete is True

    # No new job of any kind while the deletion is pending, and the name stays taken;
    # nothing is recorded.
    before = event_count(server)
    refused = [
        fails(stub.CreateSecretSync, create_request(name="leaving")),
        fails(stub.TriggerSecretSync, api.TriggerSecretSyncRequest(id=created.id)),
        fails(
            stub.ImportSecrets,
            api.ImportSecretsRequest(
                id=created.id, import_behavior=pb.IMPORT_BEHAVIOR_PRIORITIZE_SOURCE
            ),
        ),
        fails(stub.RemoveSecrets, api.RemoveSecretsRequest(id=created.id)),
        fails(
            stub.DeleteSecretSync,
            api.DeleteSecretSyncRequest(id=created.id, remove_secrets=True),
        ),
        # An update that would request a sync (key schema of an auto-sync sync) too.
        fails(
            stub.UpdateSecretSync,
            api.UpdateSecretSyncRequest(
                id=created.id,
                update_mask=mask("sync_options.key_schema"),
                sync_options=pb.SyncOptions(key_schema="x-{{secretKey}}"),
            ),
        ),
    ]
    assert_error(refused.pop(0), grpc.StatusCode.ALREADY_EXISTS, "NAME_TAKEN")
    for failure in refused:
        assert_error(failure, *BEING_DELETED)
    assert event_count(server) == before
    assert get(stub, created.id) == sync

    # An update that requests no job is still allowed.
    described = update(stub, created.id, ["description"], description="on its way out")
    assert described.description == "on its way out"
    assert described.remove_status == pb.JOB_STATUS_PENDING
    assert get(stub, created.id) == described

    # A plain delete still deletes at once, and frees the name.
    deleted = stub.DeleteSecretSync(
        api.DeleteSecretSyncRequest(id=created.id, etag=described.etag), timeout=CALL_TIMEOUT
    )
    assert (deleted.deleted, deleted.remove_job_id) == (True, "")
    assert_error(
        fails(stub.GetSecretSync, api.GetSecretSyncRequest(id=created.id)),
        NOT_FOUND,
        "SECRET_SYNC_NOT_FOUND",
    )
    assert stub.CreateSecretSync(create_request(name="leaving")).secret_sync.id != created.id


def test_request_ids_are_recorded_and_echoed(server, stub):
    created, call = stub.CreateSecretSync.with_call(
        create_request(request_id="create-req-1"), timeout=CALL_TIMEOUT
    )
    sync = created.secret_sync
    assert events_of(server, sync.id)[0].request_id == "create-req-1"

    def trailer(call) -> str:
        (value,) = [v for k, v in call.trailing_metadata() if k == "x-request-id"]
        return value

    # From the metadata when the field is empty; echoed in the trailer.
    _, call = stub.UpdateSecretSync.with_call(
        api.UpdateSecretSyncRequest(
            id=sync.id, update_mask=mask("description"), description="by metadata"
        ),
        metadata=(("x-request-id", "meta-req-42"),),
        timeout=CALL_TIMEOUT,
    )
    assert trailer(call) == "meta-req-42"
    assert events_of(server, sync.id)[-1].request_id == "meta-req-42"

    # The field wins over the metadata; the trailer still echoes the metadata.
    _, call = stub.TriggerSecretSync.with_call(
        api.TriggerSecretSyncRequest(id=sync.id, request_id="field-req-7"),
        metadata=(("x-request-id", "meta-req-43"),),
        timeout=CALL_TIMEOUT,
    )
    assert trailer(call) == "meta-req-43"
    assert events_of(server, sync.id)[-1].request_id == "field-req-7"

    # Neither: the service makes one, records it and returns it.
    _, call = stub.RemoveSecrets.with_call(
        api.RemoveSecretsRequest(id=sync.id), timeout=CALL_TIMEOUT
    )
    made = trailer(call)
    assert is_uuid(made)
    assert events_of(server, sync.id)[-1].request_id == made
    assert {e.actor for e in events_of(server, sync.id)} == {"anonymous"}


def test_an_unusable_metadata_request_id_does_not_refuse_a_valid_request(server, stub):
    before = event_count(server)
    answer = stub.CreateSecretSync(
        create_request(), metadata=(("x-request-id", "trace id with spaces"),), timeout=10
    )
    assert event_count(server) > before
    recorded = events_of(server, answer.secret_sync.id)[0].request_id
    assert recorded and " " not in recorded
