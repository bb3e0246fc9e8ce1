"""Raw bytes to every RPC: not only well-formed messages (test_every_rpc.py) but any
bytes at all, and well-formed ones cut, flipped or spliced. Whatever comes, the answer
is never UNKNOWN or INTERNAL, a refused call records no event, and the server keeps
answering."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import event_count
from tests.fuzz.test_every_rpc import NEVER, message, methods


def mangled(method: MethodDescriptor) -> st.SearchStrategy[bytes]:
    """Any bytes, or a generated request's bytes with a cut, a flipped byte or junk."""
    valid = message(method.input_type).map(lambda m: m.SerializeToString())

    def mangle(data: bytes, how: str, at: int, junk: bytes) -> bytes:
        at = at % (len(data) + 1)
        if how == "cut":
            return data[:at]
        if how == "flip" and data:
            i = at % len(data)
            return data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :]
        return data[:at] + junk + data[at:]

    spliced = st.builds(
        mangle, valid, st.sampled_from(["cut", "flip", "splice"]),
        st.integers(0, 10_000), st.binary(min_size=1, max_size=16),
    )
    return st.one_of(st.binary(max_size=256), spliced)


@pytest.mark.parametrize("method", methods(), ids=lambda m: m.name)
def test_no_raw_bytes_get_unknown_internal_or_record_on_refusal(server, channel, method):
    path = f"/{method.containing_service.full_name}/{method.name}"
    kind = channel.unary_stream if method.server_streaming else channel.unary_unary
    call = kind(path, request_serializer=lambda b: b, response_deserializer=lambda b: b)
    response_class = GetMessageClass(method.output_type)

    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(body=mangled(method))
    def check(body: bytes) -> None:
        before = event_count(server)
        try:
            answer = call(body, timeout=5)
            if method.server_streaming:
                first = next(iter(answer), None)
                answer.cancel()
                if first is not None:
                    response_class.FromString(first)
            else:
                response_class.FromString(answer)
        except grpc.RpcError as error:
            if error.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED):
                return  # a stream with nothing to send yet, ended by us
            assert error.code() not in NEVER, (path, body, error.details())
            assert event_count(server) == before, (path, error.code(), error.details())

    check()
