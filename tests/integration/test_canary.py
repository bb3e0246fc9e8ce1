"""Secret values never reach storage in plain text, nor logs, nor error messages.

A unique canary goes into values through every source call that takes values, is
read back to prove it was stored, and is then looked for (as text, hex and base64)
in every raw byte of the store and in everything logged.
"""

from __future__ import annotations

import logging
import uuid

import grpc
from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi

from tests.canary.search import leaks, raw_store, store_tables
from tests.conftest import create_request
from tests.integration.test_auto_sync import run_job, wait_for_requests
from tests.integration.test_source_api import (
    MAX_VALUE,
    Source,
    auto_sync_idle,
    fails,
    release_stopped_servers,  # noqa: F401
)


def test_secret_values_never_reach_storage_logs_or_errors(
    server, channel, stub, database_url, caplog, capfd
):
    caplog.set_level(logging.DEBUG)
    canary = "CANARY-" + uuid.uuid4().hex
    control = "CONTROL_" + uuid.uuid4().hex  # a key: stored as is, so the scan must see it
    source = Source(channel, folders=("/app", "/shared", "/chain"))
    sync = stub.CreateSecretSync(
        create_request(project_id=source.project_id, secret_path="/app")
    ).secret_sync
    run_job(server, sync.id)  # idle: the changes below request a sync

    # Every call that takes values.
    source.set("/app", control, f"{canary}-set", comment="a comment is not secret")
    source.set("/app", control, f"{canary}-set-again")
    source.bulk("/app", {"BULK_1": f"{canary}-bulk", "BULK_2": f"before {canary} after"})
    source.set("/shared", "SHARED", f"{canary}-shared")
    source.set("/chain", "LINK", "link(${dev.shared.SHARED})")
    source.set("/app", "CHAINED", "chained(${dev.chain.LINK})")
    source.imp("/app", "/shared")
    for version in range(55):  # enough versions for the folder to be snapshotted
        source.set("/app", "ROTATED", f"{canary}-rotated-{version}")
    source.set("/app", "BROKEN", canary + "${dev.shared.NOPE}")

    # Read back: they are stored.
    assert source.get("/app", control).value == f"{canary}-set-again"
    assert source.get("/app", control, version=1).value == f"{canary}-set"
    listed = {s.key: s.value for s in source.list("/app", values=True)}
    assert listed["BULK_2"] == f"before {canary} after"
    assert listed["ROTATED"] == f"{canary}-rotated-54"
    assert not any(canary in s.value for s in source.list("/app", values=False))
    values, problems = source.resolve("/app")
    assert values["CHAINED"] == f"chained(link({canary}-shared))"
    assert values["SHARED"] == f"{canary}-shared"
    assert set(problems) == {"BROKEN"}
    assert not leaks(canary, problems["BROKEN"])

    # Refused calls carrying the canary do not echo it.
    place = source.place("/app")
    refusals = [
        (
            source.stub.SetSecret,
            sapi.SetSecretRequest(**place, secret=spb.Secret(key="bad.key", value=canary)),
        ),
        (
            source.stub.SetSecret,
            sapi.SetSecretRequest(
                **place, secret=spb.Secret(key="BIG", value=canary + "x" * MAX_VALUE)
            ),
        ),
        (
            source.stub.SetSecret,
            sapi.SetSecretRequest(**place, secret=spb.Secret(key="LOOP", value=canary + "${LOOP}")),
        ),
        (
            source.stub.SetSecret,
            sapi.SetSecretRequest(
                **source.place("/missing"), secret=spb.Secret(key="K", value=canary)
            ),
        ),
        (
            source.stub.SetSecret,
            sapi.SetSecretRequest(
                project_id=str(uuid.uuid4()),
                environment="dev",
                path="/app",
                secret=spb.Secret(key="K", value=canary),
            ),
        ),
        (
            source.stub.BulkSetSecrets,
            sapi.BulkSetSecretsRequest(
                **place,
                secrets=[
                    spb.Secret(key="DUP", value=canary),
                    spb.Secret(key="DUP", value=canary + "2"),
                    spb.Secret(key="C", value=canary, comment="c" * 2000),
                ],
            ),
        ),
    ]
    for call, request in refusals:
        refused = fails(call, request)
        assert refused.code != grpc.StatusCode.OK
        assert not leaks(canary, refused.message), refused.message
        assert not leaks(canary, refused.raw_details)
    assert "BIG" not in {s.key for s in source.list("/app", values=False)}

    # Auto-sync followed the changes (and logged what it did).
    wait_for_requests(server, stub, sync.id, 2)
    auto_sync_idle(server)
    server.stop(grace=1.0)  # shutdown is logged too; the files are complete

    tables = store_tables(database_url)
    assert any(rows for name, rows in tables.items() if "snapshot" in name)
    stored = raw_store(database_url)
    assert control.encode() in stored, "the scan does not see what the store holds"
    assert not leaks(canary, stored)

    logged = caplog.text
    assert "SecretSourceService/SetSecret" in logged  # the call log was captured
    assert "SecretSourceService/ResolveSecrets" in logged
    assert "auto-sync requested" in logged
    assert not leaks(canary, logged)
    assert not leaks(canary, "\n".join(r.getMessage() for r in caplog.records))
    out, err = capfd.readouterr()
    assert not leaks(canary, out + err)
