"""Grants, globs and principals: the pure part of authorization, and service tokens."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain.permissions import (
    Principal,
    check_principal,
    parse_grants,
    path_matches,
)
from domain.service_token import (
    ServiceToken,
    check_token_request,
    new_token,
    token_hash,
    token_id_of,
    ttl_of,
)

PROJECT = str(uuid.uuid4())


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("/app/**", "/app", True),
        ("/app/**", "/app/db", True),
        ("/app/**", "/app/db/x", True),
        ("/app/**", "/apple", False),
        ("/app/*", "/app/db", True),
        ("/app/*", "/app/db/x", False),
        ("/app/*", "/app", False),
        ("/app", "/app", True),
        ("/app", "/app/db", False),
        ("/**", "/", True),
        ("/**", "/anything/below", True),
        ("/", "/", True),
        ("/", "/app", False),
        ("/svc-*/db", "/svc-a/db", True),
        ("/svc-*/db", "/svc-a/b/db", False),
        ("/a/**/db", "/a/x/y/db", True),
        ("/a.b", "/aXb", False),  # no regex leaks through
    ],
)
def test_path_globs_match_by_segment(pattern, path, matches):
    assert path_matches(pattern, path) is matches


def principal(*grants: dict) -> Principal:
    parsed, violations = parse_grants(list(grants))
    assert violations == []
    return Principal("p", parsed)


def test_a_grant_allows_its_actions_in_its_project_environments_and_paths():
    p = principal(
        {"project": PROJECT, "actions": ["read", "edit"], "environments": ["dev", "qa-*"],
         "paths": ["/app/**"]}
    )
    assert p.sees(PROJECT) and p.sees(PROJECT.upper())
    assert not p.sees(str(uuid.uuid4()))
    assert p.may("read", PROJECT, "dev", "/app/db")
    assert p.may("edit", PROJECT, "qa-1", "/app")
    assert not p.may("delete", PROJECT, "dev", "/app")
    assert not p.may("read", PROJECT, "prod", "/app")
    assert not p.may("read", PROJECT, "dev", "/other")
    assert p.may("read", PROJECT)  # project-level: the narrowing does not apply
    assert not p.is_admin


def test_admin_allows_every_action_and_admin_on_every_project_is_the_service_admin():
    project_admin = principal({"project": PROJECT, "actions": ["admin"]})
    assert project_admin.may("remove-secrets", PROJECT, "prod", "/x")
    assert not project_admin.is_admin
    service_admin = principal({"project": "*", "actions": ["admin"]})
    assert service_admin.is_admin and service_admin.may("delete", str(uuid.uuid4()))


@pytest.mark.parametrize(
    ("grant", "field"),
    [
        ({"project": "not-a-uuid", "actions": ["read"]}, "grants[0].project_id"),
        ({"project": PROJECT, "actions": []}, "grants[0].actions"),
        ({"project": PROJECT, "actions": ["fly"]}, "grants[0].actions"),
        ({"project": PROJECT, "actions": ["read"], "paths": ["app"]}, "grants[0].paths"),
        ({"project": PROJECT, "actions": "read"}, "grants[0].actions"),
        ("read", "grants[0]"),
    ],
)
def test_bad_grants_name_their_field(grant, field):
    _, violations = parse_grants([grant])
    assert field in {v.field for v in violations}


def test_principals_cannot_pose_as_the_service():
    for name in ("anonymous", "worker", "auto-sync", "bootstrap", "secret-sync:abc", "", "a b"):
        assert check_principal(name), name
    assert check_principal("alice@example.com") == []
    assert check_principal("svc:ci/deployer") == []


def test_only_the_bootstrap_may_name_the_bootstrap_admin():
    for name in ("admin", "Admin", "ADMIN"):
        (violation,) = check_principal(name)
        assert "bootstrap admin" in violation.description
    assert check_principal("admin", bootstrap=True) == []
    assert check_principal("admin-ci") == []
    _, violations = check_token_request(
        "ops", "admin", [{"project": "*", "actions": ["read"]}], timedelta(days=1)
    )
    assert [v.field for v in violations] == ["principal"]


@pytest.mark.parametrize(
    ("seconds", "nanos", "why"),
    [
        (2**62, 0, "at most 3650 days"),
        (2**63 - 1, 999_999_999, "at most 3650 days"),
        (3650 * 86400 + 1, 0, "at most 3650 days"),
        (-1, 0, "not a valid duration"),
        (10, -1, "not a valid duration"),
        (10, 1_000_000_000, "not a valid duration"),
    ],
)
def test_a_ttl_out_of_bounds_is_refused_before_any_arithmetic(seconds, nanos, why):
    ttl, violations = ttl_of(seconds, nanos)
    assert ttl is None
    (violation,) = violations
    assert violation.field == "ttl" and why in violation.description


def test_a_ttl_in_bounds_is_a_timedelta():
    assert ttl_of(3650 * 86400, 0) == (timedelta(days=3650), [])
    assert ttl_of(60, 500_000_000) == (timedelta(seconds=60.5), [])


def test_a_token_names_its_id_and_proves_itself_by_its_hash_only():
    token_id = uuid.uuid4()
    token = new_token(token_id)
    assert token_id_of(token) == token_id
    assert token_id_of(token + "x") is None and token_id_of("sst_x") is None
    grants, violations = check_token_request(
        "ci", "ci", [{"project": "*", "actions": ["read"]}], timedelta(days=1)
    )
    assert violations == []
    record = ServiceToken.create(
        token_id, "ci", "ci", grants, token_hash(token),
        datetime.now(UTC) + timedelta(days=1), "bootstrap", "r-1",
    )
    assert record.proves(token) and not record.proves(new_token(token_id))
    (created,) = record.collect_events()
    assert token not in str(created.__dict__)
    assert record.as_principal().name == "ci"
    assert not record.expired(datetime.now(UTC))
    assert record.expired(datetime.now(UTC) + timedelta(days=2))
