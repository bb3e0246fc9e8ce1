"""The canary's parts on their own: marks, message walking, the search."""

from __future__ import annotations

import base64

import pytest
from hanzo.kms.secretsync.v1 import azure_connection_pb2 as cpb
from hanzo.kms.secretsync.v1 import azure_connection_service_pb2 as capi
from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi

from tests.canary.marks import MAX_MARKED, Marks
from tests.canary.messages import (
    REQUEST_CREDENTIALS,
    credentials_in,
    map_strings,
    mark_secrets,
    pem_lines,
    without_secrets,
)
from tests.canary.search import Searcher


def test_a_value_keeps_its_mark_within_a_test_and_gets_a_new_one_in_the_next() -> None:
    marks = Marks(run="0123456789")
    first = marks.mark("v1", "secret value")
    assert first.endswith("v1") and first != "v1"
    assert marks.mark("v1", "secret value") == first
    assert marks.mark(first, "secret value") == first  # never marked twice
    marks.new_test()
    assert marks.mark("v1", "secret value") != first
    assert marks.unmark(f"a{first}b{first}") == "av1bv1"
    assert len(marks.sent) == 2


def test_empty_and_very_long_values_stay_as_they_are() -> None:
    marks = Marks()
    long = "k" * (MAX_MARKED + 1)
    assert marks.mark("", "secret value") == ""
    assert marks.mark(long, "secret value") == long
    assert marks.unmarked == ["secret value"] and not marks.sent


def test_requests_get_their_secrets_marked_and_nothing_else() -> None:
    marks = Marks()
    bulk = sapi.BulkSetSecretsRequest(
        project_id="p", secrets=[spb.Secret(key="A", value="1", comment="c")]
    )
    mark_secrets(bulk, marks.mark)
    assert bulk.secrets[0].value != "1" and bulk.secrets[0].key == "A"
    assert bulk.secrets[0].comment == "c" and bulk.project_id == "p"
    connection = capi.CreateAzureConnectionRequest(
        name="n", client_secret_auth=cpb.ClientSecretAuth(client_id="id", client_secret="s")
    )
    mark_secrets(connection, marks.mark)
    assert connection.client_secret_auth.client_secret != "s"
    assert connection.client_secret_auth.client_id == "id"


def test_answers_are_searched_without_their_secret_fields_and_read_unmarked() -> None:
    marks = Marks()
    value = marks.mark("1", "secret value")
    answer = sapi.ResolveSecretsResponse(secrets={"A": value}, problems={"B": f"bad {value}"})
    blank = without_secrets(answer)
    assert blank.secrets["A"] == "" and blank.problems["B"] == f"bad {value}"
    map_strings(answer, marks.unmark)
    assert dict(answer.secrets) == {"A": "1"} and answer.problems["B"] == "bad 1"


def test_the_search_finds_each_form_and_names_it() -> None:
    secret = "cnry00007rabcdefn00007x"
    blob = b"x" + secret.encode().hex().upper().encode() + b"y"
    blob += base64.urlsafe_b64encode(b"\0" + secret.encode() + b"tail")
    hits = Searcher([secret]).search("blob", blob)
    assert [(h.form, h.secret) for h in hits] == [("hex", secret), ("base64", secret)]
    assert not Searcher([secret]).search("blob", b"cnry00007rabcdefn00008x")


def test_a_secret_too_short_to_search_for_is_refused() -> None:
    with pytest.raises(ValueError, match="too short"):
        Searcher(["v1"])


def test_the_file_search_finds_what_the_blob_search_finds(tmp_path) -> None:
    secret = "cnry00007rabcdefn00007x"
    blob = b"\0binary\0" + base64.b64encode(b"\0\0" + secret.encode()) + b"\n" + secret.encode()
    (tmp_path / "a:b").write_bytes(blob)
    searcher = Searcher([secret])
    in_files = searcher.search_files([tmp_path / "a:b"], tmp_path)
    assert in_files == searcher.search("a:b", blob)
    assert [h.form for h in in_files] == ["base64", "plain"]


def test_a_private_key_is_recorded_line_by_line_not_marked() -> None:
    body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7" + "A" * 12
    pem = f"-----BEGIN PRIVATE KEY-----\n{body}\nAB==\n-----END PRIVATE KEY-----\n"
    request = capi.CreateAzureConnectionRequest(
        certificate_auth=cpb.CertificateAuth(certificate_pem="cert", private_key_pem=pem)
    )
    assert credentials_in(request, REQUEST_CREDENTIALS) == [pem]
    assert pem_lines(pem) == [body]
