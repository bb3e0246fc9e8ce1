"""A trivial SecretSyncService: GetSecretSync answers a fixed, pre-built response.

The baseline for GetSecretSync: the same grpc.server settings as the service
(thread pool of 64, 256 concurrent calls, 32 MiB messages) but no interceptor,
no logging, no health or reflection services, no storage and no conversion; the
response bytes are parsed once at start and the same message is returned every time.

Run: python -m tests.bench.echo_server --port N --response-file PATH
"""

from __future__ import annotations

import argparse
import signal
from concurrent import futures
from pathlib import Path

import grpc
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2 as api
from hanzo.kms.secretsync.v1 import secret_sync_service_pb2_grpc as api_grpc

from service.runtime.config import Config


class EchoServicer(api_grpc.SecretSyncServiceServicer):
    def __init__(self, response: api.GetSecretSyncResponse) -> None:
        self.response = response

    def GetSecretSync(
        self, request: api.GetSecretSyncRequest, context: grpc.ServicerContext
    ) -> api.GetSecretSyncResponse:
        return self.response


def make_server(response: api.GetSecretSyncResponse, port: int) -> grpc.Server:
    config = Config()
    server = grpc.server(
        futures.ThreadPoolExecutor(
            max_workers=config.max_concurrent_rpcs, thread_name_prefix="grpc"
        ),
        maximum_concurrent_rpcs=config.max_concurrent_rpcs,
        options=[
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", config.max_message_bytes),
        ],
    )
    api_grpc.add_SecretSyncServiceServicer_to_server(EchoServicer(response), server)
    if not server.add_insecure_port(f"127.0.0.1:{port}"):
        raise OSError(f"cannot listen on port {port}")
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--response-file", type=Path, required=True)
    args = parser.parse_args()
    response = api.GetSecretSyncResponse.FromString(args.response_file.read_bytes())
    server = make_server(response, args.port)
    server.start()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: server.stop(1.0))
    server.wait_for_termination()


if __name__ == "__main__":
    main()
