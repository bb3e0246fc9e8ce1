"""The typed constants of the contract match what the service really sends: every
ErrorInfo.reason the code can send is an ErrorReason value and every value is sent,
and every audit event type has its AuditEventType value and back."""

from __future__ import annotations

from hanzo.kms.secretsync.v1 import audit_pb2, error_reason_pb2

from contract import descriptors
from domain.audit import EVENT_TYPES
from tests.clients.sent_reasons import scan

UNSPECIFIED = {"ERROR_REASON_UNSPECIFIED"}


def test_every_reason_the_service_can_send_is_an_error_reason_and_back():
    found = scan()
    assert found.unresolved == [], "reasons passed in a way the scan cannot read"
    members = set(error_reason_pb2.ErrorReason.keys()) - UNSPECIFIED
    sent = set(found.reasons)
    assert sent - members == set(), "sent but missing from ErrorReason (error_reason.proto)"
    assert members - sent == set(), "ErrorReason values no code sends"


def test_the_scan_sees_reasons_made_every_way():
    """A class attribute, a default, a literal argument, a keyword, a module constant."""
    found = scan().reasons
    assert "ETAG_MISMATCH" in found  # class attribute
    assert "FAILED_PRECONDITION" in found  # a default argument
    assert "FOLDER_NOT_FOUND" in found  # a literal argument
    assert "SYNC_BEING_DELETED" in found  # reason=...
    assert "TOKEN_REVOKED" in found  # a module constant, imported elsewhere too


def event_type_constant(name: str) -> str:
    return "AUDIT_EVENT_TYPE_" + name.upper().replace(".", "_")


def test_every_audit_event_type_has_its_constant_and_back():
    constants = set(audit_pb2.AuditEventType.keys()) - {"AUDIT_EVENT_TYPE_UNSPECIFIED"}
    assert {event_type_constant(n) for n in EVENT_TYPES} == constants


def test_each_event_type_constant_names_its_wire_string_first():
    enum = audit_pb2.DESCRIPTOR.enum_types_by_name["AuditEventType"]
    (event_types,) = [e for e in descriptors.load().enums if e.name == "AuditEventType"]
    comments = {v.name: v.comment for v in event_types.values}
    for name in EVENT_TYPES:
        constant = event_type_constant(name)
        assert constant in enum.values_by_name
        assert comments[constant].startswith(f'"{name}":'), constant
