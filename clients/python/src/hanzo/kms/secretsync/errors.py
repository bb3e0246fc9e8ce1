"""Rich errors of the Secret Sync API: the google.rpc details of a failed call.

The service answers errors with a google.rpc.Status in the "grpc-status-details-bin"
trailer: an ErrorInfo with a stable `reason` and, for INVALID_ARGUMENT, a BadRequest
naming every bad field by its path in the request (docs/api.md lists them per RPC).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


@dataclass(frozen=True)
class FieldViolation:
    field: str  # e.g. "sync_options.key_schema"
    description: str


@dataclass(frozen=True)
class RichError:
    code: grpc.StatusCode
    message: str
    reason: str = ""  # ErrorInfo.reason, e.g. "NAME_TAKEN"
    domain: str = ""  # ErrorInfo.domain: "secretsync.kms.hanzo.ai"
    field_violations: list[FieldViolation] = field(default_factory=list)


def rich_error(error: grpc.RpcError) -> RichError | None:
    """The details of a failed call, or None when it carries none."""
    if not isinstance(error, grpc.Call):
        return None
    status = rpc_status.from_call(error)
    if status is None:
        return None
    info = error_details_pb2.ErrorInfo()
    bad_request = error_details_pb2.BadRequest()
    for detail in status.details:
        if detail.Is(info.DESCRIPTOR):
            detail.Unpack(info)
        elif detail.Is(bad_request.DESCRIPTOR):
            detail.Unpack(bad_request)
    return RichError(
        code=error.code(),
        message=status.message,
        reason=info.reason,
        domain=info.domain,
        field_violations=[
            FieldViolation(v.field, v.description) for v in bad_request.field_violations
        ],
    )
