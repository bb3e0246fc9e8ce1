"""Domain errors as gRPC statuses with google.rpc rich details."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from domain.errors import (
    AlreadyExists,
    ConcurrentChange,
    EtagMismatch,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    SecretSyncError,
    StoreFull,
    StoreUnavailable,
    StreamLifetimeReached,
    Unauthenticated,
)
from service.runtime.store_errors import STORE_RETRY_SECONDS, StoreFailure, store_failure

ERROR_DOMAIN = "secretsync.kms.hanzo.ai"
MAX_MESSAGE = 2048
MAX_DESCRIPTION = 512
MAX_FIELD = 128
MAX_VIOLATIONS = 20
log = logging.getLogger("secretsync.errors")

CODES: list[tuple[type[SecretSyncError], int]] = [
    (InvalidArgument, code_pb2.INVALID_ARGUMENT),
    (NotFound, code_pb2.NOT_FOUND),
    (AlreadyExists, code_pb2.ALREADY_EXISTS),
    (EtagMismatch, code_pb2.ABORTED),
    (ConcurrentChange, code_pb2.ABORTED),
    (FailedPrecondition, code_pb2.FAILED_PRECONDITION),
    (Unauthenticated, code_pb2.UNAUTHENTICATED),
    (PermissionDenied, code_pb2.PERMISSION_DENIED),
    (ResourceExhausted, code_pb2.RESOURCE_EXHAUSTED),
    (StoreUnavailable, code_pb2.UNAVAILABLE),
    (StreamLifetimeReached, code_pb2.UNAVAILABLE),
]


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


# The kind of resource a reason is about, for ErrorInfo.metadata["resource_type"] when
# the error does not say it itself (error_reason.proto lists the names).
RESOURCE_OF_REASON = {
    "PROJECT_NOT_FOUND": "project",
    "ENVIRONMENT_NOT_FOUND": "environment",
    "FOLDER_NOT_FOUND": "folder",
    "SECRET_NOT_FOUND": "secret",
    "IMPORT_NOT_FOUND": "import",
    "SECRET_SYNC_NOT_FOUND": "secret_sync",
    "CONNECTION_NOT_FOUND": "connection",
    "TOKEN_NOT_FOUND": "service_token",
    "AUDIT_EVENT_NOT_FOUND": "audit_event",
    "FOLDER_EXISTS": "folder",
    "IMPORT_EXISTS": "import",
    "ETAG_MISMATCH": "secret_sync",
    "SYNC_BEING_DELETED": "secret_sync",
    "JOB_RUNNING": "secret_sync",
    "JOB_NOT_PENDING": "job",
    "JOB_NOT_RUNNING": "job",
    "CONNECTION_IN_USE": "connection",
    "ROOT_FOLDER": "folder",
    "PARENT_FOLDER_MISSING": "folder",
}


def metadata(error: SecretSyncError) -> dict[str, str]:
    """What ErrorInfo.metadata says: the resource and field the error is about."""
    found = {"resource_type": RESOURCE_OF_REASON.get(error.reason, "")}
    if isinstance(error, InvalidArgument):
        found["field"] = ",".join(dict.fromkeys(v.field for v in error.violations))
    found.update(error.metadata)
    return {key: value for key, value in found.items() if value}


def to_status(error: SecretSyncError) -> grpc.Status:
    code = next((c for cls, c in CODES if isinstance(error, cls)), code_pb2.FAILED_PRECONDITION)
    info = error_details_pb2.ErrorInfo(
        reason=error.reason, domain=ERROR_DOMAIN, metadata=metadata(error)
    )
    details = [_pack(info)]
    if isinstance(error, InvalidArgument):
        details.insert(
            0,
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=_bounded(v.field, MAX_FIELD), description=_bounded(
                                v.description, MAX_DESCRIPTION
                            )
                        )
                        for v in error.violations[:MAX_VIOLATIONS]
                    ]
                )
            ),
        )
        message = "; ".join(
            f"{_bounded(v.field, MAX_FIELD)}: {_bounded(v.description, MAX_DESCRIPTION)}"
            for v in error.violations[:MAX_VIOLATIONS]
        )
    else:
        message = str(error)
    if isinstance(error, (StoreUnavailable, StoreFull)):  # when to try again
        delay = duration_pb2.Duration(seconds=int(STORE_RETRY_SECONDS))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    message = _bounded(message, MAX_MESSAGE)
    return rpc_status.to_status(status_pb2.Status(code=code, message=message, details=details))


def store_status(failure: StoreFailure) -> grpc.Status:
    """The store is down or full: the caller may retry, after the hinted delay."""
    full = failure is StoreFailure.FULL
    return to_status(StoreFull(failure.value) if full else StoreUnavailable(failure.value))


def _bounded(text: str, limit: int) -> str:
    """Every message is bounded, whatever a caller's value was quoted in it: status
    details travel in metadata, which clients refuse past a few KiB (values quoted on
    purpose are cut shorter where they are quoted: domain.errors.echo)."""
    return text if len(text) <= limit else text[: limit - 15] + "... (shortened)"


F = TypeVar("F", bound=Callable[..., Any])


def translate_errors(method: F) -> F:
    """Turn the domain's errors into rich statuses; hide anything unexpected."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except SecretSyncError as error:
            context.abort_with_status(to_status(error))
        except Exception as error:
            if context.code() is not None:  # already aborted on purpose
                raise
            failure = store_failure(error)
            if failure is not None:
                log.warning("%s: %s", method.__name__, failure.value)
                context.abort_with_status(store_status(failure))
            log.exception("unexpected error in %s", method.__name__)
            context.abort(grpc.StatusCode.INTERNAL, "internal error; see the service log")

    return wrapper  # type: ignore[return-value]
