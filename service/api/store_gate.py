"""Fail fast while the event store is down: calls are refused at once with UNAVAILABLE and
a retry hint, instead of waiting on a connection pool until the caller's deadline.

The store probe (service/runtime/store_probe.py) says whether the store answers; health and
reflection are always let through (health is how callers learn the store is back).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from service.api.errors import store_status
from service.runtime.store_errors import StoreFailure
from service.runtime.store_probe import StoreProbe

ALWAYS_ANSWERED = ("/grpc.health.", "/grpc.reflection.")


class StoreGateInterceptor(grpc.ServerInterceptor):
    def __init__(self, probe: StoreProbe) -> None:
        self.probe = probe

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if (
            handler is None
            or self.probe.reachable
            or handler_call_details.method.startswith(ALWAYS_ANSWERED)
        ):
            return handler

        def refuse(request: Any, context: grpc.ServicerContext) -> Any:
            context.abort_with_status(store_status(StoreFailure.UNAVAILABLE))

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                refuse, handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                refuse, handler.request_deserializer, handler.response_serializer
            )
        return handler
