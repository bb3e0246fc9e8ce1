"""What can go wrong with a caller's request, in the product's words.

The gRPC layer maps each class to a status code; nothing here knows about gRPC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Self


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request: its path and what is wrong with it."""

    field: str
    description: str


class SecretSyncError(Exception):
    """Base of the errors a caller can cause. `reason` is a stable code; `metadata`
    names what the error is about, for clients (ErrorInfo.metadata)."""

    reason = "SECRET_SYNC_ERROR"
    metadata: Mapping[str, str] = MappingProxyType({})

    def about(self, resource_type: str = "", resource_id: str = "", field: str = "") -> Self:
        """Name the resource (its type and id, or the name it was asked by) and the
        request field; empty values are left out. Never pass a secret value."""
        given = {"resource_type": resource_type, "resource_id": resource_id, "field": field}
        self.metadata = MappingProxyType({**self.metadata, **{k: v for k, v in given.items() if v}})
        return self


class InvalidArgument(SecretSyncError):
    """The request is malformed; every bad field is listed."""

    reason = "INVALID_ARGUMENT"

    def __init__(self, violations: list[FieldViolation]) -> None:
        self.violations = violations
        fields = ", ".join(sorted({v.field for v in violations}))
        super().__init__(f"invalid request: {fields}")


class NotFound(SecretSyncError):
    """Something named in the request does not exist; `reason` says what."""

    def __init__(self, message: str, reason: str = "NOT_FOUND") -> None:
        self.reason = reason
        super().__init__(message)


class SecretSyncNotFound(NotFound):
    def __init__(self, message: str) -> None:
        super().__init__(message, "SECRET_SYNC_NOT_FOUND")


class AlreadyExists(SecretSyncError):
    def __init__(self, message: str, reason: str = "ALREADY_EXISTS") -> None:
        self.reason = reason
        super().__init__(message)


class NameTaken(AlreadyExists):
    def __init__(self, message: str) -> None:
        super().__init__(message, "NAME_TAKEN")


class EtagMismatch(SecretSyncError):
    reason = "ETAG_MISMATCH"


class ConcurrentChange(SecretSyncError):
    reason = "CONCURRENT_CHANGE"


class RequestInProgress(ConcurrentChange):
    """A retry arrived while the first call with its request_id is still running."""

    reason = "REQUEST_IN_PROGRESS"


class FailedPrecondition(SecretSyncError):
    """The sync exists but cannot do this now; `reason` says why."""

    def __init__(self, message: str, reason: str = "FAILED_PRECONDITION") -> None:
        self.reason = reason
        super().__init__(message)


class Unauthenticated(SecretSyncError):
    """No usable credential: missing, malformed, unknown, expired or revoked.

    Messages are fixed texts: they never echo the credential."""

    def __init__(self, message: str, reason: str) -> None:
        self.reason = reason
        super().__init__(message)


class PermissionDenied(SecretSyncError):
    """The caller may see the project, but not do this there (action, environment, path)."""

    reason = "PERMISSION_DENIED"


class ResourceExhausted(SecretSyncError):
    """The service is at a limit (open streams, concurrent calls): retry later."""

    def __init__(self, message: str, reason: str) -> None:
        self.reason = reason
        super().__init__(message)


class StoreUnavailable(SecretSyncError):
    """The event store cannot be reached right now (down, restarting): retry soon."""

    reason = "STORE_UNAVAILABLE"


class StoreFull(ResourceExhausted):
    """The event store's disk is full: retry once space is freed."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "STORE_FULL")


class ManagedIdentityNotAllowed(PermissionDenied):
    """The operator has not allowed this project the host's managed identity (or this
    vault with it): domain/managed_identity.py."""

    reason = "MANAGED_IDENTITY_NOT_ALLOWED"


class StreamLifetimeReached(SecretSyncError):
    """A stream was open for the longest time the server allows: reconnect, resuming from
    the last message (the caller's rights are checked again on the new call)."""

    reason = "STREAM_LIFETIME_REACHED"


MAX_ECHO = 64


def echo(value: str, limit: int = MAX_ECHO) -> str:
    """A caller's value as an error message may quote it: at most `limit` characters,
    so a megabyte sent is never a megabyte answered (gRPC metadata has a size limit)."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


def require(violations: list[FieldViolation]) -> None:
    """Raise InvalidArgument when any violation was found."""
    if violations:
        raise InvalidArgument(violations)
