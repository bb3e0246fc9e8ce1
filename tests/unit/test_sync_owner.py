"""A sync pushes only what its owner may read (domain/sync_owner.py, domain/resolve.py)."""

from __future__ import annotations

import uuid

from domain.permissions import Principal, parse_grants
from domain.resolve import resolve
from domain.sync_owner import SyncOwner, owner_readable
from tests.unit.test_resolve import loader

PROJECT = str(uuid.uuid4())


def owner(*grants: dict) -> SyncOwner:
    parsed, violations = parse_grants(list(grants))
    assert violations == []
    return SyncOwner.of(Principal("ci", parsed))


APP_ONLY = owner({"project": PROJECT, "actions": ["read", "create"], "paths": ["/app/**"]})
SPEC = {
    ("dev", "/app"): ({"OWN": "mine", "REF": "x-${dev.secret.TOKEN}"}, [("dev", "/secret")]),
    ("dev", "/secret"): {"TOKEN": "hidden-value", "DB": "hidden-db"},
}


def test_keys_from_a_folder_the_owner_may_not_read_are_problems_never_values():
    resolution = resolve("dev", "/app", loader(SPEC), owner_readable(APP_ONLY, PROJECT))
    assert resolution.values == {"OWN": "mine"}
    assert set(resolution.problems) == {"TOKEN", "DB", "REF"}
    assert "dev:/secret" in resolution.problems["DB"]
    assert "may not read" in resolution.problems["TOKEN"]
    assert "dev:/secret" in resolution.problems["REF"]  # a reference into it, too
    text = repr(resolution.problems)
    assert "hidden" not in text


def test_an_owner_who_may_read_both_folders_gets_everything():
    both = owner({"project": PROJECT, "actions": ["read"], "paths": ["/app/**", "/secret"]})
    resolution = resolve("dev", "/app", loader(SPEC), owner_readable(both, PROJECT))
    assert resolution.problems == {}
    assert resolution.values == {
        "OWN": "mine", "REF": "x-hidden-value", "TOKEN": "hidden-value", "DB": "hidden-db"
    }


def test_read_is_what_counts_not_the_other_actions():
    pusher = owner({"project": PROJECT, "actions": ["create", "sync-secrets", "edit"]})
    resolution = resolve("dev", "/app", loader(SPEC), owner_readable(pusher, PROJECT))
    assert resolution.values == {}
    assert set(resolution.problems) == {"OWN", "REF", "TOKEN", "DB"}


def test_the_owner_grants_are_of_this_project_and_environment():
    other = owner({"project": str(uuid.uuid4()), "actions": ["read"]})
    assert resolve("dev", "/app", loader(SPEC), owner_readable(other, PROJECT)).values == {}
    prod_only = owner({"project": PROJECT, "actions": ["read"], "environments": ["prod"]})
    assert resolve("dev", "/app", loader(SPEC), owner_readable(prod_only, PROJECT)).values == {}


def test_without_an_owner_nothing_is_narrowed():
    assert owner_readable(None, PROJECT) is None
    assert len(resolve("dev", "/app", loader(SPEC), None).values) == 4


def test_the_owner_survives_its_event_round_trip():
    assert SyncOwner.from_dict(APP_ONLY.to_dict()) == APP_ONLY
    assert SyncOwner.from_dict(None) is None
    assert SyncOwner.from_dict({}) is None


def test_a_recorded_owner_with_unreadable_grants_fails_closed():
    broken = SyncOwner.from_dict({"principal": "ci", "grants": [{"project": "nope"}]})
    assert broken is not None and broken.grants == ()
    assert resolve("dev", "/app", loader(SPEC), owner_readable(broken, PROJECT)).values == {}

