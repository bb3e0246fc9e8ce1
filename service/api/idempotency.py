"""Idempotent mutations: a retry with the same request_id gets the first answer.

Every mutating request carries an optional `request_id`. The first call with a
given id (per caller, whatever the method) reserves it, runs, and stores its
response; a retry gets that response back and records nothing new; a duplicate
that arrives while the first is still running waits for its answer. A call that
fails releases the id, so a retry runs again (a failed call recorded nothing). The
same id with a different request is the caller's mistake: INVALID_ARGUMENT naming
request_id.

A reservation belongs to the replica running the call: when that process dies (kill -9,
a crash), a retry takes the reservation over at once (adapters/idempotency_store.py says
how a dead owner is known); a reservation whose owner cannot be told (older rows) is taken
over after STALE_SECONDS. The retry runs the call again: for a bulk set that repeats the
same effect; a create that had committed answers with what it created
(SecretSyncs.create), not ALREADY_EXISTS.

A caller that gives up (deadline, cancel) does not stop its call: the call commits or
fails on its own, and a retry with the same request_id waits for it and gets its answer.
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
from service.api.errors import store_status, to_status
from service.app.access import actor as access_actor
from service.runtime.store_errors import store_failure

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
        # Reservations of failed calls that could not be released (the store was down):
        # released before the next call, so a retry is not kept waiting for a dead call.
        self._unreleased: set[tuple[str, str]] = set()
        # Answers of calls that committed while the store then failed to keep the answer:
        # stored before the next call (a retry then gets it; it waits meanwhile).
        self._unstored: dict[tuple[str, str], bytes] = {}

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
            self._release_leftovers()
            mine = fingerprint(self.fingerprint_key, request, method)
            key = scoped()
            deadline = time.monotonic() + WAIT_SECONDS
            while True:
                now = self.clock()
                try:
                    prior = self.store.reserve(key, request_id, mine, now, now - STALE_SECONDS)
                except Exception as error:
                    failure = store_failure(error)
                    if failure is None:
                        raise
                    context.abort_with_status(store_status(failure))
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
            self._release(method, request_id)
            raise
        if context.code() not in (None, grpc.StatusCode.OK):
            self._release(method, request_id)  # set_code without raising: a failure
            return response
        answer = serialize(response)
        try:
            self.store.complete(method, request_id, answer)
        except Exception as error:
            if store_failure(error) is None:
                raise
            # The call's effect is committed: its answer is kept here until the store
            # takes it, never released (a retry must not run the call twice).
            log.warning("the answer to request_id %r is kept until the store answers",
                        request_id)
            self._unstored[(method, request_id)] = answer
            return response
        self._cleanup()
        return response

    def _release(self, method: str, request_id: str) -> None:
        try:
            self.store.release(method, request_id)
        except Exception as error:
            if store_failure(error) is None:
                raise
            self._unreleased.add((method, request_id))

    def _release_leftovers(self) -> None:
        for (method, request_id), answer in list(self._unstored.items()):
            try:
                self.store.complete(method, request_id, answer)
            except Exception:  # still down: the call itself will say so
                return
            self._unstored.pop((method, request_id), None)
        for method, request_id in list(self._unreleased):
            try:
                self.store.release(method, request_id)
            except Exception:  # still down: the call itself will say so
                return
            self._unreleased.discard((method, request_id))

    def _cleanup(self) -> None:
        now = self.clock()
        if now - self._last_cleanup > 3600:
            self._last_cleanup = now
            try:
                dropped = self.store.forget_before(now - KEEP_SECONDS)
            except Exception as error:  # the next hour's call tries again
                if store_failure(error) is None:
                    raise
                return
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
