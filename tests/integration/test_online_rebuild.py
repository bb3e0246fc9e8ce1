"""Rebuilding the secret_syncs view while the service serves: the new view is built
beside the live one and swapped in; no read fails meanwhile, writes go on, and the
result is the view the log implies (a damaged row is repaired)."""

from __future__ import annotations

import threading
import time

import grpc
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api

from service.views.rebuild import rebuild_online
from tests.conftest import create_request
from tests.integration.sync_helpers import CALL_TIMEOUT, update
from tests.integration.test_server import make_history, run_sql


def test_a_rebuild_while_serving_fails_no_read_and_loses_no_write(server, stub, channel):
    ids = make_history(stub, channel)
    project_id = create_request().project_id
    run_sql(server.config.database_url, ["UPDATE {table} SET name = 'damaged'"])
    stop, failures, reads, writes = threading.Event(), [], [0], []

    def read() -> None:
        while not stop.is_set():
            for sync_id in ids:
                try:
                    stub.GetSecretSync(api.GetSecretSyncRequest(id=sync_id), timeout=CALL_TIMEOUT)
                    stub.ListSecretSyncs(api.ListSecretSyncsRequest(project_id=project_id),
                                         timeout=CALL_TIMEOUT)
                    reads[0] += 2
                except grpc.RpcError as error:
                    failures.append(error.code())

    def write() -> None:
        n = 0
        while not stop.is_set():
            writes.append(update(stub, ids[1], ["description"], description=f"write {n}"))
            n += 1
            # A steady stream of writes, with the gaps real traffic has: back to back on a
            # loaded machine, the new view could chase the live one for every try (the
            # rebuild then gives up and says so; see MAX_SWAPS).
            time.sleep(0.01)

    threads = [threading.Thread(target=read), threading.Thread(target=write)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)
        rows = rebuild_online(server.config, report_every=0.1)
        time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert failures == [] and reads[0] > 0 and writes
    assert rows == len(ids)
    shown = stub.GetSecretSync(api.GetSecretSyncRequest(id=ids[1])).secret_sync
    assert shown.description == writes[-1].description  # the last write is in the view
    names = {r.name for r in server.view.all_rows()}
    assert "damaged" not in names and "renamed-0" in names
    # A second rebuild, with nothing moving, gives the very same rows.
    before = server.view.all_rows()
    assert rebuild_online(server.config, report_every=0.1) == len(before)
    assert server.view.all_rows() == before
