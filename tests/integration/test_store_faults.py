"""Calls and reservations when the store misbehaves (PostgreSQL; no outage needed):

- a write whose caller gave up (deadline) while the store was stuck is not lost and not
  doubled: it commits once the store moves, and a retry with its request_id gets its answer;
- a reservation belongs to a live replica session: once that session ends (the process
  died), another replica sees the owner gone and takes the reservation over at once.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import grpc
import psycopg
import pytest
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from adapters.replica_session import ReplicaSession
from service.runtime.config import persistence_env
from tests.conftest import (
    POSTGRES_ADMIN_URL,
    create_request,
    new_project,
    postgres_schema_url,
    start_server,
)
from tests.integration.sync_helpers import list_all

pytestmark = pytest.mark.postgres


@pytest.fixture
def database_url() -> Iterator[str]:
    yield from postgres_schema_url()


def test_a_write_whose_caller_gave_up_commits_once_and_its_retry_gets_the_answer(database_url):
    server = start_server(database_url)
    schema = parse_qs(urlsplit(database_url).query)["schema"][0]
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = api_grpc.SecretSyncServiceStub(channel)
            request = create_request(project_id=new_project(channel), is_enabled=False,
                                     request_id=str(uuid.uuid4()))
            with psycopg.connect(POSTGRES_ADMIN_URL) as blocker:  # the store is stuck
                blocker.execute(f'LOCK TABLE "{schema}".secretsyncs_events IN EXCLUSIVE MODE')
                with pytest.raises(grpc.RpcError) as gave_up:
                    stub.CreateSecretSync(request, timeout=1.0)
                assert gave_up.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            # The lock is gone: the abandoned call goes on and commits.
            answer = stub.CreateSecretSync(request, timeout=30).secret_sync
            again = stub.CreateSecretSync(request, timeout=30).secret_sync
            assert again == answer
            same_name = [s for s in list_all(stub, project_id=request.project_id)
                         if s.name == request.name]
            assert [s.id for s in same_name] == [answer.id]  # committed once
            assert stub.GetSecretSync(api.GetSecretSyncRequest(id=answer.id)).secret_sync.id \
                == answer.id
    finally:
        server.stop(grace=1.0)


def test_a_replica_is_gone_once_its_session_ends(database_url):
    env = persistence_env(database_url)
    alive = ReplicaSession(env, f"replica-a-{uuid.uuid4().hex[:6]}")
    other = ReplicaSession(env, f"replica-b-{uuid.uuid4().hex[:6]}")
    stopping = threading.Event()
    keeper = threading.Thread(target=alive.keep, args=(stopping,))
    keeper.start()
    try:
        deadline = time.monotonic() + 10
        while other.gone(alive.owner):  # until its lock is taken
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        stopping.set()
        keeper.join(timeout=10)
    deadline = time.monotonic() + 10
    while not other.gone(alive.owner):  # its session ended with it
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert other.gone("a-replica-that-never-was")
