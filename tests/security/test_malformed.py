"""Request bytes that are not a valid message (invalid UTF-8 in a string field, a varint
cut short, a length past the end) are INVALID_ARGUMENT naming the request, never
INTERNAL with a traceback: one rate-limited log line, and every call counted in the
call log and the metrics, with or without a credential.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import grpc
import pytest

from service.api.malformed import LOG_EVERY, MalformedRequest, _Reporter
from service.runtime.metrics import SHARED
from tests.conftest import start_server
from tests.security.conftest import every_method, full_name, reason_of

MALFORMED = {
    "invalid utf-8 in field 1 (a string)": b"\x0a\x02\xff\xfe",
    "truncated varint": b"\x08\xff",
    "length past the end": b"\x0a\x7fabc",
    "truncated tag": b"\x80",
}
CALLS = 1000
COUNTED = "secretsync_rpc_handled_total"


def raw(channel: grpc.Channel, method: str, streaming: bool):  # type: ignore[no-untyped-def]
    kind = channel.unary_stream if streaming else channel.unary_unary
    return kind(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)


def counted(method: str) -> float:
    service, _, name = method.lstrip("/").rpartition("/")
    labels = {"service": service, "method": name, "code": "INVALID_ARGUMENT"}
    return SHARED.get_sample_value(COUNTED, labels) or 0.0


@pytest.fixture(scope="module", params=["off", "required"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[grpc.Channel]:
    tmp = tmp_path_factory.mktemp("malformed")
    server = start_server(f"sqlite:///{tmp}/store.sqlite", auth=request.param)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield channel
    finally:
        server.stop(grace=1.0)


def malformed_for(method) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    """The bodies above, with the invalid UTF-8 put in a string field of this request."""
    bodies = {k: v for k, v in MALFORMED.items() if not k.startswith("invalid utf-8")}
    strings = [f.number for f in method.input_type.fields if f.type == f.TYPE_STRING]
    if strings:
        tag = (strings[0] << 3) | 2
        bodies["invalid utf-8 in a string field"] = bytes([tag]) + b"\x02\xff\xfe"
    return bodies


@pytest.mark.parametrize("method", every_method(), ids=lambda m: m.name)
def test_malformed_bytes_to_every_rpc_are_invalid_argument(served, method):
    path = full_name(method)
    for label, body in malformed_for(method).items():
        call = raw(served, path, method.server_streaming)
        with pytest.raises(grpc.RpcError) as refused:
            answer = call(body, timeout=10)
            if method.server_streaming:
                next(iter(answer))
        error = refused.value
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (label, error.details())
        assert reason_of(error) == "INVALID_ARGUMENT"
        assert "request" in (error.details() or "")


def test_a_thousand_malformed_calls_leave_no_traceback_and_are_all_counted(
    served, caplog
):
    method = "/hanzo.kms.secretsync.v1.SecretSyncService/GetSecretSync"
    call = raw(served, method, streaming=False)
    before = counted(method)
    caplog.set_level(logging.DEBUG)
    codes = []
    for index in range(CALLS):
        body = list(MALFORMED.values())[index % len(MALFORMED)]
        try:
            call(body, timeout=10)
        except grpc.RpcError as error:
            codes.append(error.code())
    assert codes == [grpc.StatusCode.INVALID_ARGUMENT] * CALLS
    assert counted(method) - before == CALLS
    records = caplog.records
    assert not [r for r in records if r.exc_info or "Traceback" in r.getMessage()]
    assert not [r for r in records if "deserializ" in r.getMessage().lower()
                and r.name.startswith("grpc")]
    call_lines = [r for r in records if r.name == "secretsync.calls"
                  and "code=INVALID_ARGUMENT" in r.getMessage() and method in r.getMessage()]
    assert len(call_lines) == CALLS
    # At most one warning line per interval (an earlier test may have had this one's).
    warnings = [r for r in records if r.levelno >= logging.WARNING]
    assert len(warnings) <= 1, [r.getMessage() for r in warnings]


def test_the_report_is_one_line_per_interval_with_the_count(caplog):
    now = [1000.0]
    reporter = _Reporter(clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="secretsync.calls")
    for _ in range(500):
        reporter.report("/x.Y/Z", MalformedRequest("DecodeError"))
    now[0] += LOG_EVERY
    reporter.report("/x.Y/Z", MalformedRequest("DecodeError"))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("malformed request bytes refused (INVALID_ARGUMENT): 1 since")
    assert ": 500 since" in lines[1] and "/x.Y/Z (DecodeError)" in lines[1]
