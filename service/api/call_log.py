"""Per call: one log line (method, status code, duration, request id) and the RPC metrics.

Both come from one measurement at the call's end; the metric series of each
method and code are looked up once and kept, so a call costs a dict lookup, an
increment and an observation (the Get path is benchmarked against an echo server).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from domain.rules import check_request_id
from service.api import malformed, paging
from service.api.errors import to_status
from service.api.handlers import rewrapped
from service.app.access import actor as access_actor
from service.app.access import current_access
from service.app.call_context import current_request_id, new_request_id
from service.runtime.metrics import RPC_HANDLED, RPC_SECONDS

log = logging.getLogger("secretsync.calls")
_series: dict[tuple[str, str], tuple[Any, Any]] = {}  # (method, code) -> (counter, histogram)


def _request_id(context: grpc.ServicerContext) -> str:
    """The caller's x-request-id if usable, else a new one (a bad one is not an error)."""
    for key, value in context.invocation_metadata() or ():
        if key == "x-request-id" and isinstance(value, str) and not check_request_id(value):
            return value
    return new_request_id()


class CallLogInterceptor(grpc.ServerInterceptor):
    """Outermost: sets up each call's scope (request id, no earlier caller, this server's
    page-token key), reads its request without ever raising, logs and counts it."""

    def __init__(self, page_key: bytes | None = None) -> None:
        self.page_key = page_key

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.request_streaming:
            return handler
        method = handler_call_details.method
        # Outermost: the one deserializer grpc calls is this one (service/api/malformed.py).
        tolerant_deserializer = malformed.tolerant(handler.request_deserializer)
        return rewrapped(handler, method, self._unary, self._stream, tolerant_deserializer)

    def _unary(self, method: str, behaviour: Callable[..., Any]) -> Callable[..., Any]:
        def logged(request: Any, context: grpc.ServicerContext) -> Any:
            request_id = _begin(context, self.page_key)
            start = time.perf_counter()
            try:
                _refuse_malformed(method, request, context)
                return behaviour(request, context)
            finally:
                _log(method, context, start, request_id)

        return logged

    def _stream(self, method: str, behaviour: Callable[..., Any]) -> Callable[..., Any]:
        def logged(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            request_id = _begin(context, self.page_key)
            start = time.perf_counter()
            cancelled = False
            try:
                _refuse_malformed(method, request, context)
                yield from behaviour(request, context)
            except GeneratorExit:  # the client went away mid-stream
                cancelled = True
                raise
            finally:
                _log(method, context, start, request_id, cancelled)

        return logged


def _refuse_malformed(method: str, request: Any, context: grpc.ServicerContext) -> None:
    if isinstance(request, malformed.MalformedRequest):
        malformed.report(method, request)
        context.abort_with_status(to_status(malformed.MALFORMED))


def _begin(context: grpc.ServicerContext, page_key: bytes | None) -> str:
    request_id = _request_id(context)
    current_request_id.set(request_id)
    paging.current_key.set(page_key)
    current_access.set(None)  # not an earlier call's caller: the auth interceptor sets it
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
    seconds = time.perf_counter() - start
    _count(method, name, seconds)
    principal = access_actor() or "-"  # "-": authentication off, or the call was refused
    log.info(
        "call method=%s code=%s duration_ms=%.1f request_id=%s principal=%s",
        method,
        name,
        seconds * 1000,
        request_id,
        principal,
        extra={
            "grpc_method": method,
            "grpc_code": name,
            "duration_ms": seconds * 1000,
            "principal": principal,
        },
    )


def _count(method: str, code: str, seconds: float) -> None:
    series = _series.get((method, code))
    if series is None:  # "/package.Service/Method": only registered methods get here
        service, _, name = method.lstrip("/").rpartition("/")
        labels = (service, name, code)
        series = (RPC_HANDLED.labels(*labels), RPC_SECONDS.labels(*labels))
        _series[(method, code)] = series
    series[0].inc()
    series[1].observe(seconds)
