"""A cap on open server streams, so long-lived streams cannot starve short calls.

Each open stream (WatchSecretSync, StreamAuditEvents, health Watch, reflection) holds
one of the server's handler threads for as long as the client keeps it. gRPC itself refuses calls
beyond `maximum_concurrent_rpcs` with RESOURCE_EXHAUSTED; this interceptor refuses a
new stream beyond `max_streams` the same way, leaving the rest of the threads to
unary calls, which therefore never queue behind streams.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from domain.errors import ResourceExhausted
from service.api.errors import to_status
from service.app.streams import stream_deadline
from service.runtime.metrics import STREAMS_OPEN

TOO_MANY_STREAMS = ResourceExhausted(
    "too many open streams on this server: retry later, or on another replica",
    "TOO_MANY_STREAMS",
)


class StreamLimitInterceptor(grpc.ServerInterceptor):
    def __init__(self, max_streams: int, max_stream_seconds: float = 3600.0) -> None:
        self._slots = threading.BoundedSemaphore(max_streams)
        self.max_stream_seconds = max_stream_seconds

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or not handler.response_streaming:
            return handler
        serializers = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.request_streaming:  # reflection: open to all, so capped all the more
            return grpc.stream_stream_rpc_method_handler(
                self._limited(handler.stream_stream), **serializers
            )
        return grpc.unary_stream_rpc_method_handler(
            self._limited(handler.unary_stream), **serializers
        )

    def _limited(self, behaviour: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        def limited(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            if not self._slots.acquire(blocking=False):
                context.abort_with_status(to_status(TOO_MANY_STREAMS))
            STREAMS_OPEN.inc()
            stream_deadline.set(time.monotonic() + self.max_stream_seconds)
            try:
                yield from behaviour(request, context)
            finally:
                stream_deadline.set(None)
                STREAMS_OPEN.dec()
                self._slots.release()

        return limited
