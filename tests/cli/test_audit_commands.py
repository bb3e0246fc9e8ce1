"""`audit list` and `audit follow`: the trail as an operator reads it, never a value."""

from __future__ import annotations

import json
import subprocess
import time

import grpc
from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from tests.cli.conftest import PYTHON, REPO, Cli
from tests.conftest import create_request, new_project

VALUE = "canary-audit-value"


def seeded(target: str) -> tuple[str, str]:
    with grpc.insecure_channel(target) as channel:
        project_id = new_project(channel)
        sgrpc.SecretSourceServiceStub(channel).SetSecret(sapi.SetSecretRequest(
            project_id=project_id, environment="dev", path="/my-secrets",
            secret=spb.Secret(key="DB_HOST", value=VALUE),
        ))
        sync = api_grpc.SecretSyncServiceStub(channel).CreateSecretSync(
            create_request(project_id=project_id, is_enabled=False)
        ).secret_sync
    return project_id, sync.id


def listed(cli: Cli, *args: str) -> list[dict]:
    for _ in range(100):  # the audit follows the store asynchronously
        result = cli("audit", "list", *args, "--output", "json")
        assert result.code == 0, result.both
        events = json.loads(result.out)
        if any(e["event_type"] == "secret_sync.created" for e in events):
            return events
        time.sleep(0.1)
    raise AssertionError("the audit never showed the sync")


def test_audit_list_shows_who_did_what_and_never_a_value(cli: Cli, target):
    project_id, sync_id = seeded(target)
    events = listed(cli, "--project", project_id)
    positions = [int(e["position"]) for e in events]
    assert positions == sorted(positions, reverse=True)  # newest first
    assert {"secret.set", "secret_sync.created"} <= {e["event_type"] for e in events}
    table = cli("audit", "list", "--project", project_id, "--resource", sync_id)
    assert table.code == 0 and "secret_sync.created" in table.out and "secret.set" not in table.out
    assert VALUE not in table.both and VALUE not in json.dumps(events)


def test_audit_follow_streams_from_a_position(cli: Cli, target):
    project_id, _ = seeded(target)
    first = listed(cli, "--project", project_id, "--oldest-first")[0]["position"]
    follow = subprocess.Popen(
        [str(PYTHON), "-m", "service", "audit", "follow", "--project", project_id,
         "--after", str(first), "--output", "json", "--target", target],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = json.loads(follow.stdout.readline())
    finally:
        follow.terminate()
        follow.wait(timeout=10)
    assert int(line["position"]) > int(first) and line["project_id"] == project_id
