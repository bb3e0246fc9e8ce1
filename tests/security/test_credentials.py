"""JWTs and service tokens as callers present them; the actor the audit records; and
that no token or token hash shows anywhere but the one answer that made it."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import jwt
import pytest
from google.protobuf import duration_pb2
from hanzo.kms.secretsync.v1 import audit_service_pb2 as audit_api
from hanzo.kms.secretsync.v1 import audit_service_pb2_grpc as audit_grpc
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc
from hanzo.kms.secretsync.v1 import token_pb2 as tpb
from hanzo.kms.secretsync.v1 import token_service_pb2 as tapi
from hanzo.kms.secretsync.v1 import token_service_pb2_grpc as tgrpc
from jwt.utils import base64url_encode

from domain.audit import SERVICE_PROJECT
from tests.canary.search import leaks, raw_store
from tests.security.conftest import Secured, bearer, public_pem, reason_of


def list_envs(secured: Secured, metadata: list[tuple[str, str]]) -> grpc.StatusCode:
    try:
        sgrpc.SecretSourceServiceStub(secured.channel).ListEnvironments(
            sapi.ListEnvironmentsRequest(project_id=secured.mine.id), metadata=metadata
        )
    except grpc.RpcError as error:
        return error.code(), reason_of(error)
    return grpc.StatusCode.OK, ""


def test_a_good_jwt_works_with_its_grants(secured: Secured):
    assert list_envs(secured, bearer(secured.jwt())) == (grpc.StatusCode.OK, "")
    other_project = {"kms_grants": [{"project": secured.theirs.id, "actions": ["read"]}]}
    code, reason = list_envs(secured, bearer(secured.jwt(other_project)))
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "PROJECT_NOT_FOUND")


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"iss": "https://evil.test"}, "TOKEN_INVALID"),
        ({"aud": "another-service"}, "TOKEN_INVALID"),
        ({"iss": None}, "TOKEN_INVALID"),
        ({"aud": None}, "TOKEN_INVALID"),
        ({"sub": None}, "TOKEN_INVALID"),
        ({"sub": "worker"}, "TOKEN_INVALID"),  # the service's own actors are not for hire
        ({"sub": "admin"}, "TOKEN_INVALID"),  # nor the bootstrap admin's name
        ({"exp": None}, "TOKEN_INVALID"),
        ({"kms_grants": [{"project": "nope", "actions": ["read"]}]}, "TOKEN_INVALID"),
        ({"exp": timedelta(minutes=-1)}, "TOKEN_EXPIRED"),
        ({"nbf": timedelta(minutes=1)}, "TOKEN_INVALID"),
    ],
)
def test_a_bad_jwt_is_refused(secured: Secured, claims, reason):
    now = datetime.now(UTC)  # times are relative to the test's run, not its collection
    claims = {k: now + v if isinstance(v, timedelta) else v for k, v in claims.items()}
    token = secured.jwt(claims)
    assert list_envs(secured, bearer(token)) == (grpc.StatusCode.UNAUTHENTICATED, reason)


def test_clock_skew_is_allowed_within_the_configured_leeway(secured: Secured):
    almost = secured.jwt({"exp": datetime.now(UTC) - timedelta(seconds=2)})  # leeway 5 s
    assert list_envs(secured, bearer(almost)) == (grpc.StatusCode.OK, "")


def test_a_jwt_with_a_bad_signature_or_algorithm_is_refused(secured: Secured):
    good = secured.jwt()
    head, body, signature = good.split(".")
    tampered = f"{head}.{body}.{signature[:-4]}AAAA"
    other_key = secured.jwt(key=secured.other_key)
    unsigned = jwt.encode({"iss": "x"}, None, algorithm="none")  # type: ignore[arg-type]
    # HS256 keyed with the public key (the classic algorithm confusion), made by hand:
    # PyJWT itself refuses to sign so.
    hs_head = base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signed = hs_head + b"." + body.encode()
    mac = hmac.new(public_pem(secured.private_key), signed, hashlib.sha256).digest()
    confused = (signed + b"." + base64url_encode(mac)).decode()
    for token in (tampered, other_key, unsigned, confused):
        assert list_envs(secured, bearer(token)) == (
            grpc.StatusCode.UNAUTHENTICATED,
            "TOKEN_INVALID",
        )


def audit_actors(secured: Secured, project_id: str, event_type: str) -> list[str]:
    stub = audit_grpc.AuditServiceStub(secured.channel)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        events = stub.ListAuditEvents(
            audit_api.ListAuditEventsRequest(project_id=project_id, event_types=[event_type]),
            metadata=secured.admin,
        ).events
        if events:
            return [e.actor for e in events]
        time.sleep(0.1)
    return []


def test_the_audit_records_the_principal_of_a_token_and_of_a_jwt(secured: Secured):
    sources = sgrpc.SecretSourceServiceStub(secured.channel)
    principal = "alice@example.com"
    token = secured.token(
        [{"project": secured.mine.id, "actions": ["create"]}], principal=principal
    )
    path = "/app/" + uuid.uuid4().hex[:8]
    folder = sources.CreateFolder(
        sapi.CreateFolderRequest(project_id=secured.mine.id, environment="dev", path=path),
        metadata=bearer(token),
    ).folder
    deadline = time.monotonic() + 10
    stub = audit_grpc.AuditServiceStub(secured.channel)
    events: list = []
    while time.monotonic() < deadline and not events:
        events = list(
            stub.ListAuditEvents(
                audit_api.ListAuditEventsRequest(project_id=secured.mine.id, resource_id=folder.id),
                metadata=secured.admin,
            ).events
        )
        time.sleep(0.1)
    assert [e.actor for e in events] == [principal]

    jwt_user = "svc:" + uuid.uuid4().hex[:8]
    grants = {"sub": jwt_user, "kms_grants": [{"project": secured.mine.id, "actions": ["edit"]}]}
    from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb

    sources.SetSecret(
        sapi.SetSecretRequest(
            project_id=secured.mine.id,
            environment="dev",
            path=path,
            secret=spb.Secret(key="BY_JWT", value="v"),
        ),
        metadata=bearer(secured.jwt(grants)),
    )
    events = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not events:
        events = [
            e
            for e in stub.ListAuditEvents(
                audit_api.ListAuditEventsRequest(
                    project_id=secured.mine.id, resource_id=folder.id, event_types=["secret.set"]
                ),
                metadata=secured.admin,
            ).events
        ]
        time.sleep(0.1)
    assert [e.actor for e in events] == [jwt_user]


@pytest.mark.parametrize(
    ("fields", "field", "why"),
    [
        ({"principal": "admin"}, "principal", "bootstrap admin"),
        ({"ttl": duration_pb2.Duration(seconds=2**62)}, "ttl", "at most 3650 days"),
        ({"ttl": duration_pb2.Duration(seconds=2**63 - 1, nanos=999_999_999)}, "ttl",
         "at most 3650 days"),
    ],
)
def test_a_token_as_the_bootstrap_admin_or_for_ever_is_refused(secured: Secured, fields, field,
                                                                why):
    request = tapi.CreateServiceTokenRequest(
        name="t-" + uuid.uuid4().hex[:8], principal="ci",
        grants=[tpb.Grant(project_id=secured.mine.id, actions=["read"])],
    )
    for name, value in fields.items():
        if isinstance(value, duration_pb2.Duration):
            getattr(request, name).CopyFrom(value)
        else:
            setattr(request, name, value)
    with pytest.raises(grpc.RpcError) as refused:
        tgrpc.TokenServiceStub(secured.channel).CreateServiceToken(request, metadata=secured.admin)
    error = refused.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"{field}: " in (error.details() or "") and why in (error.details() or "")


def test_tokens_are_made_listed_and_revoked_as_audited_events(secured: Secured):
    tokens = tgrpc.TokenServiceStub(secured.channel)
    made = tokens.CreateServiceToken(
        tapi.CreateServiceTokenRequest(
            name="ci-" + uuid.uuid4().hex[:8],
            principal="ci",
            grants=[tpb.Grant(project_id=secured.mine.id, actions=["read"], paths=["/app/**"])],
        ),
        metadata=secured.admin,
    )
    assert made.token.startswith("sst_")
    assert list_envs(secured, bearer(made.token)) == (grpc.StatusCode.OK, "")
    listed = tokens.ListServiceTokens(tapi.ListServiceTokensRequest(), metadata=secured.admin)
    assert made.service_token.id in [t.id for t in listed.service_tokens]
    assert made.token not in str(listed)
    tokens.RevokeServiceToken(
        tapi.RevokeServiceTokenRequest(id=made.service_token.id), metadata=secured.admin
    )
    assert list_envs(secured, bearer(made.token)) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "TOKEN_REVOKED",
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        stub = audit_grpc.AuditServiceStub(secured.channel)
        events = stub.ListAuditEvents(
            audit_api.ListAuditEventsRequest(
                project_id=SERVICE_PROJECT, resource_id=made.service_token.id
            ),
            metadata=secured.admin,
        ).events
        if len(events) == 2:
            break
        time.sleep(0.1)
    assert [e.event_type for e in events] == ["service_token.revoked", "service_token.created"]
    assert {e.actor for e in events} == {"root-admin"}
    assert made.token not in str(events)
    assert hashlib.sha256(made.token.encode()).hexdigest() not in str(events)
    # Another caller does not see the service's own audit.
    reader = bearer(secured.token([{"project": secured.mine.id, "actions": ["read-audit"]}]))
    hidden = audit_grpc.AuditServiceStub(secured.channel).ListAuditEvents(
        audit_api.ListAuditEventsRequest(project_id=SERVICE_PROJECT), metadata=reader
    )
    assert list(hidden.events) == []


def test_a_replayed_request_id_never_answers_another_principal(secured: Secured):
    from hanzo.kms.secretsync.v1 import secret_source_pb2 as spb

    sources = sgrpc.SecretSourceServiceStub(secured.channel)
    request = sapi.SetSecretRequest(
        project_id=secured.mine.id,
        environment="dev",
        path="/app",
        secret=spb.Secret(key="REPLAY", value="v"),
        request_id="replay-" + uuid.uuid4().hex,
    )
    writer = bearer(secured.token([{"project": secured.mine.id, "actions": ["edit"]}]))
    sources.SetSecret(request, metadata=writer)
    reader = bearer(secured.token([{"project": secured.mine.id, "actions": ["read"]}]))
    with pytest.raises(grpc.RpcError) as refused:
        sources.SetSecret(request, metadata=reader)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_no_token_or_hash_reaches_the_store_logs_audit_or_errors(
    secured: Secured, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    token = secured.token([{"project": secured.mine.id, "actions": ["read"]}])
    assert list_envs(secured, bearer(token)) == (grpc.StatusCode.OK, "")
    refusals = [
        list_envs(secured, bearer(token + "x")),
        list_envs(secured, bearer(token[:-1])),
        list_envs(secured, [("authorization", token)]),  # no scheme
    ]
    assert all(code == grpc.StatusCode.UNAUTHENTICATED for code, _ in refusals)
    messages = []
    for metadata in (bearer(token + "x"), [("authorization", "Bearer " + token + " extra")]):
        try:
            sgrpc.SecretSourceServiceStub(secured.channel).ListEnvironments(
                sapi.ListEnvironmentsRequest(project_id=secured.mine.id), metadata=metadata
            )
        except grpc.RpcError as error:
            messages.append(error.details() + str(error.trailing_metadata()))
    audit = audit_grpc.AuditServiceStub(secured.channel)
    trail = []
    for project in (SERVICE_PROJECT, secured.mine.id):
        trail += list(
            audit.ListAuditEvents(
                audit_api.ListAuditEventsRequest(project_id=project, page_size=500),
                metadata=secured.admin,
            ).events
        )
    store = raw_store(secured.server.config.database_url)
    logged = caplog.text
    everything = [t for t in secured.made if t] + [token]
    for made in everything:
        secret = made[len("sst_") + 33 :]  # after the id and its "_"
        assert len(secret) == 43
        hashed = hashlib.sha256(made.encode()).hexdigest()
        assert not leaks(made, store) and not leaks(secret, store)
        for text in (logged, "\n".join(messages), str(trail)):
            assert not leaks(secret, text)
            assert hashed not in text
