"""Idempotent mutations: a retry with the same request_id gets the first answer.

Every mutating request carries an optional `request_id`. The first call with a
given id (per caller, whatever the method) reserves it, runs, and stores its
response; a retry gets that response back and records nothing new; a duplicate
that arrives while the first is still running waits for its answer. A call that
fails releases the id, so a retry runs again (a failed call recorded nothing). The
same id with a different request is the caller's mistake: INVALID_ARGUMENT naming
request_id.

A reservation whose caller died mid-call (no answer after STALE_SECONDS) is
taken over by the next retry; that retry may repeat an effect the dead call made
just before dying, which is the one case this cannot rule out.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from typing import Any

import grpc

from adapters.idempotency_store import IdempotencyStore
from domain.errors import FieldViolation, InvalidArgument, RequestInProgress
from domain.rules import check_request_id
from service.api.errors import to_status
from service.app.access import actor as access_actor

STALE_SECONDS = 300.0
WAIT_SECONDS = 30.0
KEEP_SECONDS = 24 * 3600.0
log = logging.getLogger("secretsync.idempotency")


def fingerprint(key: bytes, request: Any, method: str = "") -> str:
    """Keyed: a request may hold a secret value, and a plain hash of a weak one could
    be guessed offline from the stored fingerprint. The method is part of it: the same
    request_id for another method is another request (README: refused)."""
    serialized = request.SerializeToString(deterministic=True)
    return hmac.new(key, method.encode() + b"\0" + serialized, hashlib.sha256).hexdigest()


class IdempotencyInterceptor(grpc.ServerInterceptor):
    def __init__(
        self,
        store: IdempotencyStore,
        fingerprint_key: bytes,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.fingerprint_key = fingerprint_key
        self.clock = clock
        self._last_cleanup = 0.0

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or not handler.unary_unary:
            return handler
        serialize = handler.response_serializer
        return grpc.unary_unary_rpc_method_handler(
            self._once(handler_call_details.method, handler.unary_unary, serialize),
            request_deserializer=handler.request_deserializer,
            # A stored answer is already bytes: it goes out as it was first sent.
            response_serializer=lambda r: r if isinstance(r, bytes) else serialize(r),
        )

    def _once(
        self, method: str, behaviour: Callable[..., Any], serialize: Callable[[Any], bytes]
    ) -> Callable[..., Any]:
        def idempotent(request: Any, context: grpc.ServicerContext) -> Any:
            request_id = getattr(request, "request_id", "")
            if not request_id or check_request_id(request_id):
                return behaviour(request, context)  # nothing to key on (or the call refuses it)
            mine = fingerprint(self.fingerprint_key, request, method)
            key = scoped()
            deadline = time.monotonic() + WAIT_SECONDS
            while True:
                now = self.clock()
                prior = self.store.reserve(key, request_id, mine, now, now - STALE_SECONDS)
                if prior is None:
                    return self._first(key, request_id, behaviour, serialize, request, context)
                if prior.fingerprint != mine:
                    context.abort_with_status(to_status(_reused(request_id)))
                if prior.response is not None:
                    return prior.response
                if time.monotonic() > deadline:
                    still = f"a call with request_id {request_id!r} is still running; retry"
                    context.abort_with_status(to_status(RequestInProgress(still)))
                time.sleep(0.02)  # the first call is running: wait for its answer

        return idempotent

    def _first(
        self,
        method: str,
        request_id: str,
        behaviour: Callable[..., Any],
        serialize: Callable[[Any], bytes],
        request: Any,
        context: grpc.ServicerContext,
    ) -> Any:
        try:
            response = behaviour(request, context)
        except BaseException:
            self.store.release(method, request_id)
            raise
        if context.code() not in (None, grpc.StatusCode.OK):
            self.store.release(method, request_id)  # set_code without raising: a failure
            return response
        self.store.complete(method, request_id, serialize(response))
        self._cleanup()
        return response

    def _cleanup(self) -> None:
        now = self.clock()
        if now - self._last_cleanup > 3600:
            self._last_cleanup = now
            dropped = self.store.forget_before(now - KEEP_SECONDS)
            log.debug("forgot %d request ids older than a day", dropped)


def scoped() -> str:
    """Request ids are the caller's, across every method (the README's promise: a reused
    id with a different request, another method's included, is refused), and one
    principal never gets another's stored answer."""
    actor = access_actor()
    return "any method" if actor is None else f"any method as {actor}"


def _reused(request_id: str) -> InvalidArgument:
    return InvalidArgument(
        [FieldViolation("request_id", f"{request_id!r} was already used for a different request")]
    )
