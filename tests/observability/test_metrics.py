"""GET /metrics over HTTP after real work: a sync into the emulator, errors, throttling."""

from __future__ import annotations

import socket
import uuid

import grpc
import pytest
from grpc_health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse
from grpc_health.v1.health_pb2_grpc import HealthStub
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from keyvault_emulator import RateLimit
from service.runtime.metrics_server import split_listen
from tests.conftest import start_server
from tests.emulator.conftest import eventually
from tests.observability.scrape import scrape
from tests.observability.syncs import sync_to_emulator

SYNC_SERVICE = "hanzo.kms.secretsync.v1.SecretSyncService"
PROJECTION = {"projection": "secret_syncs_view"}
SERVING, NOT_SERVING = HealthCheckResponse.SERVING, HealthCheckResponse.NOT_SERVING


def test_a_sync_shows_in_every_family(observed, emulator):
    before = scrape(observed.metrics_url)
    secrets = {f"KEY_{n}": f"value-{n}" for n in range(5)}
    sync_to_emulator(observed.channel, emulator, secrets)

    def settled():  # the gauges move just after the outcome is visible
        now = scrape(observed.metrics_url)
        idle = now.value("secretsync_jobs_in_flight", kind="sync") == 0
        caught_up = now.value("secretsync_projection_lag_events", **PROJECTION) == 0
        return now if idle and caught_up else None

    after = eventually(settled)

    def grew(sample: str, **labels: str) -> float:
        return after.value(sample, **labels) - before.value(sample, **labels)

    created = {"service": SYNC_SERVICE, "method": "CreateSecretSync", "code": "OK"}
    assert grew("secretsync_rpc_handled_total", **created) == 1
    assert grew("secretsync_rpc_duration_seconds_count", **created) == 1
    assert grew("secretsync_rpc_duration_seconds_bucket", **created, le="+Inf") == 1
    # >= 1: the source's change may also have requested a follow-up sync (auto-sync).
    assert grew("secretsync_jobs_total", kind="sync", result="succeeded") >= 1
    assert grew("secretsync_job_duration_seconds_count", kind="sync", result="succeeded") >= 1
    assert grew("secretsync_job_duration_seconds_sum", kind="sync", result="succeeded") > 0
    assert grew("secretsync_keys_written_total", action="created") >= len(secrets)
    assert grew("secretsync_keys_written_total", action="failed") == 0
    assert grew("secretsync_azure_requests_total", operation="set", status="ok") >= len(secrets)
    assert grew("secretsync_azure_requests_total", operation="list", status="ok") >= 1
    assert after.value("secretsync_projection_position", **PROJECTION) > 0

    help_texts = after.families()
    for family in (
        "secretsync_rpc_handled",
        "secretsync_rpc_duration_seconds",
        "secretsync_jobs",
        "secretsync_job_duration_seconds",
        "secretsync_jobs_in_flight",
        "secretsync_streams_open",
        "secretsync_keys_written",
        "secretsync_azure_requests",
        "secretsync_azure_throttled",
        "secretsync_azure_retries",
        "secretsync_azure_pacing_wait_seconds",
        "secretsync_projection_lag_events",
        "secretsync_projection_position",
    ):
        assert help_texts.get(family), f"{family} is missing or has no HELP"


def test_error_codes_are_counted_by_method(observed):
    stub = api_grpc.SecretSyncServiceStub(observed.channel)
    labels = {"service": SYNC_SERVICE, "method": "GetSecretSync", "code": "NOT_FOUND"}
    before = scrape(observed.metrics_url).value("secretsync_rpc_handled_total", **labels)
    for _ in range(3):
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetSecretSync(api.GetSecretSyncRequest(id=str(uuid.uuid4())))
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    after = scrape(observed.metrics_url).value("secretsync_rpc_handled_total", **labels)
    assert after - before == 3


def test_throttling_is_counted_and_retried(observed, emulator):
    before = scrape(observed.metrics_url)
    # Two writes a second: our pacer (set for Azure's real limits) cannot know, so
    # the vault answers 429 with Retry-After and the adapter waits and retries.
    emulator.faults.set_rate_limit(RateLimit(sets=2, total=1000, window_seconds=1))
    sync_to_emulator(observed.channel, emulator, {f"K{n}": "v" for n in range(6)})
    after = scrape(observed.metrics_url)

    def grew(sample: str, **labels: str) -> float:
        return after.value(sample, **labels) - before.value(sample, **labels)

    assert grew("secretsync_azure_throttled_total", operation="set") >= 1
    assert grew("secretsync_azure_requests_total", operation="set", status="429") >= 1
    assert grew("secretsync_azure_retries_total", operation="set", status="429") >= 1
    assert grew("secretsync_jobs_total", kind="sync", result="succeeded") >= 1


def test_nothing_listens_unless_configured(database_url):
    server = start_server(database_url)
    try:
        assert server.metrics.port == 0
    finally:
        server.stop(grace=1.0)


def test_a_taken_port_leaves_the_api_serving(database_url):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = start_server(database_url, metrics_listen=f"127.0.0.1:{port}")
        try:
            assert server.metrics.port == 0
            with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                answer = HealthStub(channel).Check(HealthCheckRequest(), timeout=10)
                assert answer.status in (SERVING, NOT_SERVING)  # it answers: it serves
        finally:
            server.stop(grace=1.0)


@pytest.mark.parametrize(
    ("listen", "expected"),
    [("127.0.0.1:9464", ("127.0.0.1", 9464)), ("[::1]:0", ("::1", 0)), (":9", ("0.0.0.0", 9))],
)
def test_listen_addresses(listen, expected):
    assert split_listen(listen) == expected
