"""One log line per call: method, status code, duration, request id."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from domain.rules import check_request_id
from service.call_context import current_request_id, new_request_id

log = logging.getLogger("secretsync.calls")


def _request_id(context: grpc.ServicerContext) -> str:
    """The caller's x-request-id if usable, else a new one (a bad one is not an error)."""
    for key, value in context.invocation_metadata() or ():
        if key == "x-request-id" and isinstance(value, str) and not check_request_id(value):
            return value
    return new_request_id()


class CallLogInterceptor(grpc.ServerInterceptor):
    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.request_streaming:
            return handler
        method = handler_call_details.method
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.unary_stream_rpc_method_handler(
            self._stream(method, handler.unary_stream),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _unary(self, method: str, behaviour: Callable[..., Any]) -> Callable[..., Any]:
        def logged(request: Any, context: grpc.ServicerContext) -> Any:
            request_id = _begin(context)
            start = time.perf_counter()
            try:
                return behaviour(request, context)
            finally:
                _log(method, context, start, request_id)

        return logged

    def _stream(self, method: str, behaviour: Callable[..., Any]) -> Callable[..., Any]:
        def logged(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            request_id = _begin(context)
            start = time.perf_counter()
            cancelled = False
            try:
                yield from behaviour(request, context)
            except GeneratorExit:  # the client went away mid-stream
                cancelled = True
                raise
            finally:
                _log(method, context, start, request_id, cancelled)

        return logged


def _begin(context: grpc.ServicerContext) -> str:
    request_id = _request_id(context)
    current_request_id.set(request_id)
    context.set_trailing_metadata((("x-request-id", request_id),))
    return request_id


def _log(
    method: str,
    context: grpc.ServicerContext,
    start: float,
    request_id: str,
    cancelled: bool = False,
) -> None:
    # A call the client abandoned has no code of its own: it is not active any more.
    cancelled = cancelled or not context.is_active()
    code = context.code() or (grpc.StatusCode.CANCELLED if cancelled else grpc.StatusCode.OK)
    name = code.name if isinstance(code, grpc.StatusCode) else str(code)
    log.info(
        "call method=%s code=%s duration_ms=%.1f request_id=%s",
        method,
        name,
        (time.perf_counter() - start) * 1000,
        request_id,
    )
