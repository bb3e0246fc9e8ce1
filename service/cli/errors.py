"""Failures as an operator needs them: the gRPC code, the message, every bad field.

Exit codes: 0 success; 2 the caller must change something (bad flags or fields, unknown
names, a precondition); 1 anything else (server or network trouble, a failed job);
130 interrupted.
"""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2  # argparse uses 2 for bad flags too: one code for "fix your command"
EXIT_INTERRUPTED = 130  # the shell's convention for Ctrl-C
# The server's reason for ending a stream at its maximum lifetime (a reconnect resumes it).
STREAM_LIFETIME_REACHED = "STREAM_LIFETIME_REACHED"

# Codes that mean the request itself, or the state it names, must change before a retry.
CALLER_CODES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
    }
)


class CliError(Exception):
    """A mistake found before or without calling the server (e.g. an unknown slug)."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def exit_code(error: grpc.RpcError) -> int:
    return EXIT_USAGE if _code(error) in CALLER_CODES else EXIT_FAILURE


def describe(error: grpc.RpcError, request_id: str = "") -> list[str]:
    """Lines for stderr: code and message, then the google.rpc details of the trailer."""
    code = _code(error)
    name = code.name if code is not None else "UNKNOWN"
    details = error.details() if hasattr(error, "details") else str(error)
    lines = [f"error: {name}: {details or '(no message)'}"]
    status = _status(error)
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            lines += [f"  field {v.field}: {v.description}" for v in bad.field_violations]
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            lines.append(f"  reason: {info.reason} ({info.domain})")
    if request_id:
        lines.append(f"  request id: {request_id}")
    return lines


def asks_to_reconnect(error: grpc.RpcError) -> bool:
    """The server ended a stream at its maximum lifetime: resume it on a new call."""
    if _code(error) != grpc.StatusCode.UNAVAILABLE:
        return False
    status = _status(error)
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason == STREAM_LIFETIME_REACHED
    return False


def _code(error: grpc.RpcError) -> grpc.StatusCode | None:
    return error.code() if hasattr(error, "code") else None


def _status(error: grpc.RpcError) -> status_pb2.Status | None:
    """The google.rpc.Status of the trailer, or None when there is none (or it is bad)."""
    if not hasattr(error, "trailing_metadata"):
        return None
    try:
        return rpc_status.from_call(error)
    except ValueError:  # code or message disagree with the trailer: show what we have
        return None
