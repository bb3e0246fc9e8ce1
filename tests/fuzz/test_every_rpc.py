"""Generated requests to every RPC of every service: huge strings, odd unicode, deep
paths, unknown enum values, negative numbers. Whatever comes, the answer is never
UNKNOWN or INTERNAL, the server stays up, and a refused call records no event.

Requests are built from the services' descriptors, so a new RPC is fuzzed too.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import event_count

SERVICES = (
    "hanzo.kms.secretsync.v1.SecretSyncService",
    "hanzo.kms.secretsync.v1.SecretSourceService",
    "hanzo.kms.secretsync.v1.AzureConnectionService",
    "hanzo.kms.secretsync.v1.AuditService",
    "hanzo.kms.secretsync.v1.TokenService",
)
NEVER = (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=300),
    st.sampled_from(["", " ", "/", "//a/../b", "/a" * 300, "${A}", "\u202e\u0000x", "x" * 70_000,
                     "00000000-0000-0000-0000-000000000000", "dev", "/my-secrets", "*"]),
)
INTEGERS = st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([0, -1, 1, 501, 10**9]))


def methods() -> list[MethodDescriptor]:
    import hanzo.kms.secretsync.v1.audit_service_pb2
    import hanzo.kms.secretsync.v1.azure_connection_service_pb2
    import hanzo.kms.secretsync.v1.secret_source_service_pb2
    import hanzo.kms.secretsync.v1.secret_sync_service_pb2
    import hanzo.kms.secretsync.v1.token_service_pb2  # noqa: F401
    from google.protobuf import descriptor_pool

    pool = descriptor_pool.Default()
    return [m for name in SERVICES for m in pool.FindServiceByName(name).methods]


def message(descriptor: Any, depth: int = 0) -> st.SearchStrategy[Message]:
    """Messages of this type with any subset of fields set to odd values."""
    cls = GetMessageClass(descriptor)
    fields = {f.name: value(f, depth) for f in descriptor.fields if f.containing_oneof is None
              or f is f.containing_oneof.fields[0]}
    return st.fixed_dictionaries({}, optional=fields).map(lambda kw: _build(cls, kw))


def _build(cls: type[Message], values: dict[str, Any]) -> Message:
    built = cls()
    for name, field_value in values.items():
        field = getattr(built, name)
        if isinstance(field_value, list):
            if field_value and isinstance(field_value[0], Message):
                for item in field_value:
                    field.add().CopyFrom(item)
            else:
                field.extend(field_value)
        elif isinstance(field_value, dict):
            field.update(field_value)
        elif isinstance(field_value, Message):
            field.CopyFrom(field_value)
        else:
            setattr(built, name, field_value)
    return built


def value(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        return st.dictionaries(TEXT, TEXT, max_size=3)
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if depth >= 2:
            return st.just(GetMessageClass(field.message_type)())
        inner = message(field.message_type, depth + 1)
        return st.lists(inner, max_size=3) if _repeated(field) else inner
    single: st.SearchStrategy[Any]
    if field.type == FieldDescriptor.TYPE_STRING:
        single = TEXT
    elif field.type == FieldDescriptor.TYPE_BOOL:
        single = st.booleans()
    elif field.type == FieldDescriptor.TYPE_ENUM:
        single = st.integers(-3, 12)  # known values and unknown ones
    elif field.type == FieldDescriptor.TYPE_BYTES:
        single = st.binary(max_size=64)
    else:
        single = INTEGERS
    return st.lists(single, max_size=5) if _repeated(field) else single


def _repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


@pytest.mark.parametrize("method", methods(), ids=lambda m: m.name)
def test_no_generated_request_gets_unknown_internal_or_records_on_refusal(
    server, channel, method: MethodDescriptor
):
    path = f"/{method.containing_service.full_name}/{method.name}"
    request_class = GetMessageClass(method.input_type)
    response_class = GetMessageClass(method.output_type)
    kind = channel.unary_stream if method.server_streaming else channel.unary_unary
    call = kind(path, request_serializer=request_class.SerializeToString,
                response_deserializer=response_class.FromString)

    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(request=message(method.input_type))
    def check(request: Message) -> None:
        before = event_count(server)
        try:
            answer = call(request, timeout=5)
            if method.server_streaming:
                next(iter(answer), None)
                answer.cancel()
        except grpc.RpcError as error:
            if error.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED):
                return  # a stream with nothing to send yet, ended by us
            assert error.code() not in NEVER, (path, error.details())
            assert event_count(server) == before, (path, error.code(), error.details())

    check()
