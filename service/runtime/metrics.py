"""The service's Prometheus metrics: names, help texts and labels, in one place.

They are process-wide (one service per process in production); each server's
/metrics endpoint shows them together with its own scrape-time gauges (see
service/runtime/metrics_server.py). Labels never carry secret values, keys, vault names
or tokens: only bounded sets (methods, codes, job kinds, actions, operations).
See docs/observability.md.
"""

from __future__ import annotations

import prometheus_client
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)

from adapters import azure_key_vault

# Every counter would otherwise get a *_created twin series: noise for dashboards.
prometheus_client.disable_created_metrics()

SHARED = CollectorRegistry(auto_describe=True)
for _standard in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    SHARED.register(_standard)  # process_*, python_info, python_gc_*

JOB_KINDS = ("sync", "import", "remove")
JOB_RESULTS = ("succeeded", "failed")
KEY_ACTIONS = ("created", "updated", "deleted", "verified", "failed")
AZURE_OPERATIONS = ("list", "get", "set", "delete", "recover")

RPC_HANDLED = Counter(
    "secretsync_rpc_handled",
    "gRPC calls finished, by service, method and status code.",
    ["service", "method", "code"],
    registry=SHARED,
)
RPC_SECONDS = Histogram(
    "secretsync_rpc_duration_seconds",
    "Time from a gRPC call's start to its end (a Watch stream: its whole life), "
    "by service, method and status code.",
    ["service", "method", "code"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=SHARED,
)
JOBS = Counter(
    "secretsync_jobs",
    "Jobs this process claimed and finished, by kind (sync, import, remove) and result.",
    ["kind", "result"],
    registry=SHARED,
)
JOB_SECONDS = Histogram(
    "secretsync_job_duration_seconds",
    "Time from claiming a job to recording its outcome, by kind and result.",
    ["kind", "result"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
    registry=SHARED,
)
JOBS_IN_FLIGHT = Gauge(
    "secretsync_jobs_in_flight",
    "Jobs this process is claiming, running or recording right now, by kind.",
    ["kind"],
    registry=SHARED,
)
STREAMS_OPEN = Gauge(
    "secretsync_streams_open",
    "Server streams open right now (Watch, audit streams); new ones beyond "
    "SECRET_SYNC_MAX_STREAMS are refused with RESOURCE_EXHAUSTED.",
    registry=SHARED,
)
TLS_CERTIFICATE_EXPIRY = Gauge(
    "secretsync_tls_certificate_expiry_timestamp_seconds",
    "When the server certificate being served expires (Unix time); set at start and on "
    "each reload, so an alert can fire before it lapses.",
    registry=SHARED,
)
KEYS_WRITTEN = Counter(
    "secretsync_keys_written",
    "Vault secrets handled by finished jobs, by action: created, updated, deleted, "
    "verified (read back, same value, not rewritten) or failed.",
    ["action"],
    registry=SHARED,
)
AZURE_REQUESTS = Counter(
    "secretsync_azure_requests",
    "Requests sent to Azure Key Vault, by operation and status "
    "(ok, an HTTP status such as 429, or unreachable).",
    ["operation", "status"],
    registry=SHARED,
)
AZURE_THROTTLED = Counter(
    "secretsync_azure_throttled",
    "Requests Azure Key Vault refused with 429 Too Many Requests, by operation.",
    ["operation"],
    registry=SHARED,
)
AZURE_RETRIES = Counter(
    "secretsync_azure_retries",
    "Requests to Azure Key Vault sent again after a transient failure, "
    "by operation and the status that failed.",
    ["operation", "status"],
    registry=SHARED,
)
AZURE_PACING_SECONDS = Counter(
    "secretsync_azure_pacing_wait_seconds",
    "Time requests waited for our own pacing to stay within Key Vault's limits.",
    registry=SHARED,
)

# Series that exist from the start read 0 instead of missing (rate() needs a start).
for _kind in JOB_KINDS:
    JOBS_IN_FLIGHT.labels(_kind)
    for _result in JOB_RESULTS:
        JOBS.labels(_kind, _result)
for _action in KEY_ACTIONS:
    KEYS_WRITTEN.labels(_action)
for _operation in AZURE_OPERATIONS:
    AZURE_THROTTLED.labels(_operation)


def azure_request(operation: str, status: str, retrying: bool, paced_seconds: float) -> None:
    """One attempt at a Key Vault request, as the Azure adapter reports it."""
    AZURE_REQUESTS.labels(operation, status).inc()
    if status == "429":
        AZURE_THROTTLED.labels(operation).inc()
    if retrying:
        AZURE_RETRIES.labels(operation, status).inc()
    if paced_seconds > 0:
        AZURE_PACING_SECONDS.inc(paced_seconds)


def count_azure_requests() -> None:
    """From now on the Azure adapter's requests are counted here (idempotent)."""
    azure_key_vault.on_request(azure_request)
