"""Every RPC of every service, driven from the service descriptors: a credential is
required, another project is indistinguishable from a missing one, and narrowed grants
refuse what lies outside them. Real server, real sockets, both stores."""

from __future__ import annotations

import uuid
from datetime import timedelta

import grpc
import pytest
from hanzo.kms.secretsync.v1 import secret_source_service_pb2 as sapi
from hanzo.kms.secretsync.v1 import secret_source_service_pb2_grpc as sgrpc
from hanzo.kms.secretsync.v1 import token_service_pb2 as tapi
from hanzo.kms.secretsync.v1 import token_service_pb2_grpc as tgrpc

from service.api.rpc_permissions import RULES
from tests.security.conftest import (
    EVERY_ACTION_BUT_ADMIN,
    Secured,
    bearer,
    empty_request,
    every_method,
    full_name,
    invoke,
    short_name,
)
from tests.security.requests import (
    ADMIN_MISSING_DIFFERS,
    ADMIN_ONLY,
    BUILDERS,
    INVALID_ANYWAY,
    PROJECT_LEVEL,
    UNPLACED,
    VARIANTS,
    nothing,
    target,
)

METHODS = every_method()
IDS = [short_name(m) for m in METHODS]
OPEN = grpc.StatusCode.OK
CASES = [(m, BUILDERS.get(short_name(m))) for m in METHODS] + [
    (m, build) for name, build in VARIANTS for m in METHODS if short_name(m) == name
]
CASE_IDS = [
    short_name(m) + ("" if i < len(METHODS) else f"-v{i}") for i, (m, _) in enumerate(CASES)
]
INVALID = [(m, build) for name, build in INVALID_ANYWAY for m in METHODS if short_name(m) == name]
DENIED = (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")


def test_every_rpc_has_a_permission_rule_and_a_test_case():
    served = {full_name(m) for m in METHODS}
    assert served == set(RULES), "rules without an RPC, or RPCs without a rule"
    untested = [
        short_name(m)
        for m in METHODS
        if short_name(m) not in BUILDERS and short_name(m) not in ADMIN_ONLY | UNPLACED
    ]
    assert untested == [], "add a request to tests/security/requests.py"


@pytest.mark.parametrize(
    "credential",
    ["none", "garbage", "not-bearer", "unknown-token", "forged-token", "bad-jwt"],
)
def test_every_rpc_refuses_a_caller_without_a_usable_credential(secured: Secured, credential):
    real = secured.token([{"project": "*", "actions": ["admin"]}])
    metadata = {
        "none": [],
        "garbage": bearer("garbage"),
        "not-bearer": [("authorization", "Basic dXNlcjpwYXNz")],
        "unknown-token": bearer("sst_" + uuid.uuid4().hex + "_" + "A" * 43),
        "forged-token": bearer(real[: -43] + "B" * 43),  # a real id, a made-up secret
        "bad-jwt": bearer(secured.jwt(key=secured.other_key)),
    }[credential]
    expected = "TOKEN_MISSING" if credential == "none" else "TOKEN_INVALID"
    for method in METHODS:
        outcome = invoke(secured.channel, method, empty_request(method), metadata)
        assert (outcome.code, outcome.reason) == (grpc.StatusCode.UNAUTHENTICATED, expected), (
            short_name(method)
        )
        assert real not in outcome.message


def test_every_rpc_refuses_an_expired_and_a_revoked_token(secured: Secured):
    admin = [{"project": "*", "actions": ["admin"]}]
    expired = secured.token(admin, ttl=timedelta(seconds=1))
    revoked = secured.token(admin)
    listed = tgrpc.TokenServiceStub(secured.channel).ListServiceTokens(
        tapi.ListServiceTokensRequest(), metadata=bearer(revoked)
    )
    mine = [t for t in listed.service_tokens if revoked.startswith("sst_" + t.id.replace("-", ""))]
    tgrpc.TokenServiceStub(secured.channel).RevokeServiceToken(
        tapi.RevokeServiceTokenRequest(id=mine[0].id), metadata=secured.admin
    )
    import time

    time.sleep(1.2)
    for method in METHODS:
        for token, reason in ((expired, "TOKEN_EXPIRED"), (revoked, "TOKEN_REVOKED")):
            outcome = invoke(secured.channel, method, empty_request(method), bearer(token))
            assert (outcome.code, outcome.reason) == (grpc.StatusCode.UNAUTHENTICATED, reason), (
                short_name(method)
            )


@pytest.mark.parametrize(
    ("method", "build"),
    CASES + INVALID,
    ids=CASE_IDS + [f"{short_name(m)}-invalid{i}" for i, (m, _) in enumerate(INVALID)],
)
def test_another_project_looks_exactly_like_a_missing_one(secured: Secured, method, build):
    """A caller with every action on its own project asks about another project's
    things and about things that do not exist: the answers are the same, ids aside."""
    name = short_name(method)
    grant = {"project": secured.mine.id, "actions": EVERY_ACTION_BUT_ADMIN}
    caller = bearer(secured.token([grant]))
    if name in ADMIN_ONLY:
        outcome = invoke(secured.channel, method, empty_request(method), caller)
        assert (outcome.code, outcome.reason) == DENIED
        return
    if name in UNPLACED:
        listed = sgrpc.SecretSourceServiceStub(secured.channel).ListProjects(
            sapi.ListProjectsRequest(), metadata=caller
        )
        assert [p.id for p in listed.projects] == [secured.mine.id]
        return
    assert build is not None
    theirs, missing = target(secured.theirs), nothing()
    foreign = invoke(secured.channel, method, build(theirs), caller, timeout=1.5)
    absent = invoke(secured.channel, method, build(missing), caller, timeout=1.5)
    assert foreign.shape(*theirs.ids) == absent.shape(*missing.ids), name
    if (method, build) in INVALID:
        assert foreign.code == grpc.StatusCode.INVALID_ARGUMENT, (name, foreign)
    else:
        expected = (grpc.StatusCode.NOT_FOUND, OPEN, grpc.StatusCode.DEADLINE_EXCEEDED)
        assert foreign.code in expected, (name, foreign)
    if foreign.code == OPEN and foreign.response is not None:
        assert foreign.response == type(foreign.response)(), name  # an empty list
    if name not in ADMIN_MISSING_DIFFERS:
        # ... and what the service tells anyone (an admin) about a missing project.
        told = invoke(secured.channel, method, build(missing), secured.admin, timeout=1.5)
        assert told.shape(*missing.ids) == absent.shape(*missing.ids), name


@pytest.mark.parametrize("where", ["environment", "path"])
@pytest.mark.parametrize(("method", "build"), CASES, ids=CASE_IDS)
def test_a_narrowed_grant_refuses_other_environments_and_paths(
    secured: Secured, method, build, where
):
    """Every action in the caller's project, but only in dev:/app/**: prod, and /other,
    are PERMISSION_DENIED (the project is the caller's: nothing is hidden from it)."""
    name = short_name(method)
    if name in ADMIN_ONLY | UNPLACED | PROJECT_LEVEL:
        return
    if name == "SecretSourceService/CreateEnvironment" and where == "path":
        return  # an environment has no path
    grant = {
        "project": secured.mine.id,
        "actions": EVERY_ACTION_BUT_ADMIN,
        "environments": ["dev"],
        "paths": ["/app/**"],
    }
    caller = bearer(secured.token([grant]))
    outside = (
        target(secured.mine, "prod", "/app")
        if where == "environment"
        else target(secured.mine, "dev", "/other")
    )
    outcome = invoke(secured.channel, method, build(outside), caller, timeout=5)
    assert (outcome.code, outcome.reason) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "PERMISSION_DENIED",
    ), (name, outcome)


@pytest.mark.parametrize(("method", "build"), CASES, ids=CASE_IDS)
def test_a_grant_without_the_action_refuses_it(secured: Secured, method, build):
    """Only "read-audit" on the caller's project: every other RPC there is refused."""
    name = short_name(method)
    if name in UNPLACED or name.startswith("AuditService/"):
        return
    caller = bearer(secured.token([{"project": secured.mine.id, "actions": ["read-audit"]}]))
    request = empty_request(method) if build is None else build(target(secured.mine))
    outcome = invoke(secured.channel, method, request, caller, timeout=5)
    assert (outcome.code, outcome.reason) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "PERMISSION_DENIED",
    ), (name, outcome)
