"""Every call of our services: who is calling (authentication), and may it (the rules of
service/api/rpc_permissions.py). Health and reflection stay open.

With authentication off (development mode only) every call is allowed and its actor
is "anonymous". A method of our services without a rule is refused: a new RPC must
get a rule before anyone can call it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from domain.errors import PermissionDenied, SecretSyncError
from service.api.authn import Authenticator
from service.api.errors import to_status
from service.api.handlers import rewrapped
from service.api.rpc_permissions import RULES, Rule
from service.app.access import Access, current_access

log = logging.getLogger("secretsync.auth")
OPEN_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")


class AuthInterceptor(grpc.ServerInterceptor):
    def __init__(self, authenticator: Authenticator | None) -> None:
        self.authenticator = authenticator  # None: authentication is off

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(OPEN_PREFIXES) or handler.request_streaming:
            return handler
        return rewrapped(handler, method, self._unary, self._stream)

    def _unary(self, method: str, behaviour: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(request: Any, context: grpc.ServicerContext) -> Any:
            access, answer = self._admit(method, request, context)
            if answer is not None:
                return answer
            response = behaviour(request, context)
            # A stored answer (bytes: an idempotent repeat) was checked when first made.
            if access is not None and not isinstance(response, bytes):
                _subject_was_checked(access, context)
            return response

        return guarded

    def _stream(self, method: str, behaviour: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            access, answer = self._admit(method, request, context)
            if answer is not None:
                return
            if access is not None and self.authenticator is not None:
                access.reauthenticate = _again(self.authenticator, context)
            first = True
            for item in behaviour(request, context):
                if first and access is not None:
                    _subject_was_checked(access, context)
                first = False
                yield item

        return guarded

    def _admit(
        self, method: str, request: Any, context: grpc.ServicerContext
    ) -> tuple[Access | None, Any]:
        """(the call's access, an answer that replaces the call's own or None)."""
        if self.authenticator is None:
            current_access.set(None)
            return None, None
        current_access.set(None)  # nothing of an earlier call on this thread
        try:
            principal = self.authenticator.principal(
                context.invocation_metadata(), context.auth_context()
            )
            rule: Rule | None = RULES.get(method)
            if rule is None:
                log.error("no permission rule for %s: refused", method)
                raise PermissionDenied(f"{method} has no permission rule")
            access = Access(principal, method, rule.actions(request), rule.subject)
            current_access.set(access)
            return access, rule.check(access, request)
        except SecretSyncError as error:
            context.abort_with_status(to_status(error))
            raise  # abort raises; this line is for type checkers


def _again(authenticator: Authenticator, context: grpc.ServicerContext) -> Callable[[], Any]:
    """Proving the stream's credential again (service/app/streams.py): the same metadata
    and certificate, so a revoked or expired credential is refused as on a new call."""
    metadata, auth_context = context.invocation_metadata(), context.auth_context()
    return lambda: authenticator.principal(metadata, auth_context)


def _subject_was_checked(access: Access, context: grpc.ServicerContext) -> None:
    """Fail closed: a call about a resource must have checked it where it loaded."""
    if access.subject and not access.checked and context.code() in (None, grpc.StatusCode.OK):
        log.error("%s answered without checking its %s: refused", access.method, access.subject)
        context.abort_with_status(
            to_status(PermissionDenied(f"{access.method}: the permission check did not run"))
        )
