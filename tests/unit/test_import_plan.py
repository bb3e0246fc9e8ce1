"""The import planner: which vault secrets become source secrets, and under which keys."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.import_plan import plan_import, readable
from domain.options import ImportBehavior
from domain.plan import OWNER_TAG, ManagedKey, SyncTarget, VaultSecret

TARGET = SyncTarget(sync_id="sync-1", environment="dev", key_schema="app-{{secretKey}}")
SOURCE_FIRST = ImportBehavior.PRIORITIZE_SOURCE
VAULT_FIRST = ImportBehavior.PRIORITIZE_DESTINATION


def test_only_enabled_unowned_in_schema_secrets_are_read():
    listing = [
        VaultSecret("app-A"),
        VaultSecret("app-B", enabled=False),
        VaultSecret("other"),
        VaultSecret("app-C", tags={OWNER_TAG: "sync-2"}),
        VaultSecret("app-D", tags={OWNER_TAG: "sync-1"}),
    ]
    assert [s.name for s in readable(listing, TARGET)] == ["app-A", "app-D"]


def test_the_schema_is_stripped_and_hyphens_are_not_guessed_back_to_underscores():
    plan = plan_import({}, {"app-DB-HOST": "h"}, {}, TARGET, SOURCE_FIRST)
    assert plan.writes == {"DB-HOST": "h"}


def test_a_name_the_sync_wrote_maps_back_to_its_key():
    managed = {"app-db-host": ManagedKey("app-DB-HOST", "DB_HOST", "f", 1)}
    plan = plan_import({}, {"app-DB-HOST": "h"}, managed, TARGET, SOURCE_FIRST)
    assert plan.writes == {"DB_HOST": "h"}


def test_an_existing_source_key_that_maps_to_the_name_is_used():
    plan = plan_import({"DB_HOST": "old"}, {"app-db-host": "new"}, {}, TARGET, VAULT_FIRST)
    assert plan.writes == {"DB_HOST": "new"}


def test_prioritize_source_imports_only_missing_keys():
    plan = plan_import({"A": "source"}, {"app-A": "vault", "app-B": "b"}, {}, TARGET,
                       SOURCE_FIRST)
    assert plan.writes == {"B": "b"}


def test_prioritize_destination_overwrites_but_never_with_an_empty_value():
    source = {"A": "source", "B": "keep me"}
    plan = plan_import(source, {"app-A": "vault", "app-B": ""}, {}, TARGET, VAULT_FIRST)
    assert plan.writes == {"A": "vault"}
    assert [s.reason for s in plan.steps if s.key == "B"] == ["empty in the vault"]


def test_names_that_are_no_valid_key_are_reported_not_imported():
    target = SyncTarget(sync_id="s", environment="dev")
    plan = plan_import({}, {"a--b": "x"}, {}, target, SOURCE_FIRST)
    assert plan.writes == {"a--b": "x"}  # valid: letters and '-'
    plan = plan_import({}, {"x": "1"}, {}, SyncTarget("s", "dev", "{{secretKey}}-x"),
                       SOURCE_FIRST)
    assert plan.writes == {} and plan.steps[0].reason == "not a valid source key"


def test_steps_never_carry_values():
    plan = plan_import({"A": "s3cret"}, {"app-A": "v4lue", "app-B": "b1"}, {}, TARGET,
                       VAULT_FIRST)
    assert all("s3cret" not in repr(s) and "v4lue" not in repr(s) for s in plan.steps)


keys = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,8}", fullmatch=True)
values = st.text(alphabet="abc", max_size=3)


@settings(max_examples=200, deadline=None)
@given(
    source=st.dictionaries(keys, values, max_size=6),
    vault=st.dictionaries(keys, values, max_size=6),
    behavior=st.sampled_from(list(ImportBehavior)),
)
def test_import_never_loses_a_non_empty_source_value_and_imports_every_missing_key(
    source, vault, behavior
):
    target = SyncTarget(sync_id="s", environment="dev")
    plan = plan_import(source, vault, {}, target, behavior)
    merged = {**source, **plan.writes}
    for key, value in source.items():
        if value:
            assert merged[key], key  # never emptied
        if behavior is SOURCE_FIRST:
            assert merged[key] == value  # the source wins
    lowered = {k.lower() for k in source}
    for name, value in vault.items():
        if name.lower() not in lowered:
            assert plan.writes.get(name) == value or any(
                k.lower() == name.lower() for k in plan.writes
            )
