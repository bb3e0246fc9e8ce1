"""Rich errors: every refusal carries its code, a google.rpc.ErrorInfo (reason, domain)
and, for INVALID_ARGUMENT, a google.rpc.BadRequest naming the bad fields. A refused
call records nothing: the event store's size is checked after each one.
"""

from __future__ import annotations

import base64
import json

import grpc
from hanzo.kms.secretsync.v1 import secret_sync_pb2 as pb
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api

from tests.conftest import create_request, event_count, new_connection, new_id, new_project
from tests.integration.sync_helpers import (
    assert_error,
    assert_invalid,
    fails,
    get,
    mask,
    stream_fails,
    update,
)

NOT_FOUND = (grpc.StatusCode.NOT_FOUND, "SECRET_SYNC_NOT_FOUND")
ETAG_MISMATCH = (grpc.StatusCode.ABORTED, "ETAG_MISMATCH")


def every_call_on(stub, sync_id: str) -> dict[str, object]:
    """Each method that names a sync by id, with an otherwise valid request."""
    return {
        "get": lambda: fails(stub.GetSecretSync, api.GetSecretSyncRequest(id=sync_id)),
        "update": lambda: fails(
            stub.UpdateSecretSync,
            api.UpdateSecretSyncRequest(
                id=sync_id, update_mask=mask("description"), description="x"
            ),
        ),
        "delete": lambda: fails(stub.DeleteSecretSync, api.DeleteSecretSyncRequest(id=sync_id)),
        "delete-remove": lambda: fails(
            stub.DeleteSecretSync, api.DeleteSecretSyncRequest(id=sync_id, remove_secrets=True)
        ),
        "trigger": lambda: fails(stub.TriggerSecretSync, api.TriggerSecretSyncRequest(id=sync_id)),
        "import": lambda: fails(
            stub.ImportSecrets,
            api.ImportSecretsRequest(
                id=sync_id, import_behavior=pb.IMPORT_BEHAVIOR_PRIORITIZE_SOURCE
            ),
        ),
        "remove": lambda: fails(stub.RemoveSecrets, api.RemoveSecretsRequest(id=sync_id)),
        "watch": lambda: stream_fails(stub.WatchSecretSync, api.WatchSecretSyncRequest(id=sync_id)),
    }


def test_unknown_ids_are_not_found_on_every_method(server, stub):
    stub.CreateSecretSync(create_request())  # the store is not empty
    before = event_count(server)
    for unknown in (new_id(), new_id().upper()):
        for method, call in every_call_on(stub, unknown).items():
            failure = call()
            assert_error(failure, *NOT_FOUND)
            assert unknown in failure.message, method
    assert event_count(server) == before


def test_unknown_names_are_not_found(server, stub):
    created = stub.CreateSecretSync(create_request(name="known")).secret_sync
    before = event_count(server)
    for project_id, name in ((created.project_id, "unknown"), (new_id(), "known")):
        failure = fails(
            stub.GetSecretSync, api.GetSecretSyncRequest(project_id=project_id, name=name)
        )
        assert_error(failure, *NOT_FOUND)
        assert name in failure.message
    assert event_count(server) == before


def test_a_deleted_sync_is_not_found_on_every_method(server, stub):
    created = stub.CreateSecretSync(create_request()).secret_sync
    stub.DeleteSecretSync(api.DeleteSecretSyncRequest(id=created.id))
    before = event_count(server)
    for method, call in every_call_on(stub, created.id).items():
        failure = call()
        assert_error(failure, *NOT_FOUND)
        assert created.id in failure.message, method
    assert event_count(server) == before


def test_ids_that_are_not_uuids_are_invalid_on_every_method(server, stub):
    before = event_count(server)
    for bad in ("", "not-a-uuid", "0123456789abcdef0123456789abcdef"):
        for method, call in every_call_on(stub, bad).items():
            failure = call()
            assert failure.code == grpc.StatusCode.INVALID_ARGUMENT, (method, bad)
            if method == "get" and not bad:  # no id: a lookup by project and name
                assert_invalid(failure, "project_id", "name")
            else:
                assert_invalid(failure, "id")
    assert event_count(server) == before


def test_a_duplicate_name_in_a_project_already_exists(server, stub, channel):
    first = stub.CreateSecretSync(create_request(name="shared-name")).secret_sync
    other_connection = new_connection(channel, first.project_id)
    before = event_count(server)
    for request in (
        create_request(name="shared-name"),
        # Whatever else differs, the name in the project decides.
        create_request(name="shared-name", is_enabled=False, connection_id=other_connection),
    ):
        failure = fails(stub.CreateSecretSync, request)
        assert_error(failure, grpc.StatusCode.ALREADY_EXISTS, "NAME_TAKEN")
        assert "shared-name" in failure.message
    assert event_count(server) == before
    assert get(stub, first.id) == first

    # The same name in another project is fine.
    other_project = new_project(channel)
    other = stub.CreateSecretSync(
        create_request(project_id=other_project, name="shared-name")
    ).secret_sync
    assert other.id != first.id and other.project_id == other_project
    listed = stub.ListSecretSyncs(api.ListSecretSyncsRequest(project_id=first.project_id))
    assert [s.id for s in listed.secret_syncs] == [first.id]


def test_a_stale_etag_aborts_update_and_delete(server, stub):
    created = stub.CreateSecretSync(create_request()).secret_sync
    current = update(stub, created.id, ["description"], etag=created.etag, description="v2")
    before = event_count(server)
    for stale in (created.etag, "made-up-etag"):
        failure = fails(
            stub.UpdateSecretSync,
            api.UpdateSecretSyncRequest(
                id=created.id, etag=stale, update_mask=mask("description"), description="v3"
            ),
        )
        assert_error(failure, *ETAG_MISMATCH)
        for remove_secrets in (False, True):
            failure = fails(
                stub.DeleteSecretSync,
                api.DeleteSecretSyncRequest(
                    id=created.id, etag=stale, remove_secrets=remove_secrets
                ),
            )
            assert_error(failure, *ETAG_MISMATCH)
    assert event_count(server) == before
    assert get(stub, created.id) == current

    # A job request is no setting: the etag read before a trigger still works after it.
    triggered = stub.TriggerSecretSync(api.TriggerSecretSyncRequest(id=created.id)).secret_sync
    assert triggered.etag == current.etag and triggered.version > current.version
    last = update(stub, created.id, ["description"], etag=current.etag, description="v3")
    assert last.description == "v3" and last.etag != current.etag

    # A setting changed since `current` was read: its etag is stale now; the new one works.
    failure = fails(
        stub.DeleteSecretSync, api.DeleteSecretSyncRequest(id=created.id, etag=current.etag)
    )
    assert_error(failure, *ETAG_MISMATCH)
    deleted = stub.DeleteSecretSync(api.DeleteSecretSyncRequest(id=created.id, etag=last.etag))
    assert deleted.deleted


def test_bad_update_masks_are_invalid_naming_update_mask(server, stub):
    created = stub.CreateSecretSync(create_request()).secret_sync
    before = event_count(server)
    for paths in (
        [],  # nothing to change
        ["project_id"],  # immutable
        ["id"],
        ["version"],  # output only
        ["sync_status"],
        ["etag"],
        ["destination"],
        ["sync_options.unknown"],
        ["destination_config.vault"],
        ["Name"],
        ["description", "bogus"],  # one bad path spoils the mask
        ["*"],
    ):
        failure = fails(
            stub.UpdateSecretSync,
            api.UpdateSecretSyncRequest(
                id=created.id, update_mask=mask(*paths), name="x", description="y"
            ),
        )
        assert_invalid(failure, "update_mask")
        for path in paths:
            if path != "description":
                assert path in failure.descriptions["update_mask"], paths
    assert event_count(server) == before
    assert get(stub, created.id) == created


def test_import_needs_an_import_behavior(server, stub):
    created = stub.CreateSecretSync(create_request()).secret_sync
    before = event_count(server)
    for behavior in (pb.IMPORT_BEHAVIOR_UNSPECIFIED, 7):
        failure = fails(
            stub.ImportSecrets, api.ImportSecretsRequest(id=created.id, import_behavior=behavior)
        )
        assert_invalid(failure, "import_behavior")
    # Checked before the sync is looked up: an unknown sync is still a bad request.
    failure = fails(stub.ImportSecrets, api.ImportSecretsRequest(id=new_id()))
    assert_invalid(failure, "import_behavior")
    assert event_count(server) == before
    assert get(stub, created.id).import_status == pb.JOB_STATUS_UNSPECIFIED


def test_bad_list_requests_are_invalid_naming_the_field(server, stub):
    project_id = create_request().project_id
    for name in ("a", "b", "c"):
        stub.CreateSecretSync(create_request(name=name))
    first = stub.ListSecretSyncs(api.ListSecretSyncsRequest(project_id=project_id, page_size=1))
    token = first.next_page_token
    assert token
    before = event_count(server)

    def listing(**fields):
        return fails(stub.ListSecretSyncs, api.ListSecretSyncsRequest(**fields))

    assert_invalid(listing(project_id=project_id, page_size=-1), "page_size")
    forged = base64.urlsafe_b64encode(json.dumps({"after": "a"}).encode()).decode()
    not_json = base64.urlsafe_b64encode(b"not json").decode()
    for bad_token in ("garbage!", "e30=", not_json, forged, token[:-4]):
        assert_invalid(listing(project_id=project_id, page_token=bad_token), "page_token")
    # A token is only valid with the filters it was made with.
    for other_filters in (
        {"environment": "dev"},
        {"connection_id": new_id()},
        {"sync_status": pb.JOB_STATUS_PENDING},
        {"project_id": new_id()},
    ):
        fields = {"project_id": project_id, "page_size": 1, "page_token": token, **other_filters}
        assert_invalid(listing(**fields), "page_token")
    # The page size may change between pages.
    rest = stub.ListSecretSyncs(
        api.ListSecretSyncsRequest(project_id=project_id, page_size=10, page_token=token)
    )
    assert [s.name for s in rest.secret_syncs] == ["b", "c"] and not rest.next_page_token
    assert event_count(server) == before
