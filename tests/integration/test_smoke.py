from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api

from tests.conftest import create_request, event_count


def test_create_then_get_by_id_and_name(server, stub):
    before = event_count(server)
    created = stub.CreateSecretSync(create_request()).secret_sync
    assert event_count(server) > before
    by_id = stub.GetSecretSync(api.GetSecretSyncRequest(id=created.id)).secret_sync
    by_name = stub.GetSecretSync(
        api.GetSecretSyncRequest(project_id=created.project_id, name=created.name)
    ).secret_sync
    assert by_id == created == by_name
