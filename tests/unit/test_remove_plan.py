"""The removal planner: RemoveSecrets deletes exactly the names this sync manages."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.plan import OWNER_TAG, Action, ManagedKey, VaultSecret
from domain.remove_plan import plan_remove

ME = "sync-1"
names = st.sampled_from(["A", "B", "c", "C", "db-host", "x-1"])
owners = st.sampled_from(["", ME, "sync-2"])
listings = st.lists(
    st.builds(
        lambda name, enabled, owner: VaultSecret(
            name, enabled=enabled, tags={OWNER_TAG: owner} if owner else {}
        ),
        names,
        st.booleans(),
        owners,
    ),
    unique_by=lambda s: s.name.lower(),
)
managed_sets = st.dictionaries(
    names.map(str.lower), st.just(None)
).map(lambda d: {lower: ManagedKey(lower.upper(), lower, "f", 1) for lower in d})


@given(managed_sets, listings)
def test_only_managed_enabled_secrets_not_owned_by_another_sync_are_deleted(managed, listing):
    plan = plan_remove(managed, listing, ME)
    by_name = {s.name.lower(): s for s in listing}
    for step in plan.of(Action.DELETE):
        secret = by_name[step.name.lower()]
        assert step.name.lower() in managed
        assert secret.enabled and secret.owner in ("", ME)
    assert len(plan.steps) == len(managed)  # every managed name is accounted for


def test_each_case_is_named_with_its_reason():
    managed = {n.lower(): ManagedKey(n, n, "f", 1) for n in ["GONE", "MINE", "OFF", "TAKEN"]}
    listing = [
        VaultSecret("MINE", tags={OWNER_TAG: ME}),
        VaultSecret("OFF", enabled=False, tags={OWNER_TAG: ME}),
        VaultSecret("TAKEN", tags={OWNER_TAG: "sync-2"}),
        VaultSecret("UNMANAGED", tags={OWNER_TAG: ME}),
    ]
    plan = plan_remove(managed, listing, ME)
    assert [(s.action, s.name) for s in plan.steps] == [
        (Action.UNCHANGED, "GONE"),
        (Action.DELETE, "MINE"),
        (Action.LEAVE, "OFF"),
        (Action.LEAVE, "TAKEN"),
    ]
    assert plan.overlaps == ["TAKEN"]
