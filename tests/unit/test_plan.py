"""Unit tests for domain/plan.py: every planning rule by example, then by property
against a small simulated Key Vault that executes the plans."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from domain.key_schema import is_valid_vault_name, vault_name
from domain.options import InitialSyncBehavior
from domain.plan import (
    CERTIFICATE,
    MAX_VALUE_BYTES,
    OWNER_TAG,
    WRITES,
    Action,
    ManagedKey,
    Plan,
    SyncTarget,
    VaultSecret,
    plan_sync,
)

# Modest and repeatable: no example database on disk, no flaky deadlines.
FAST = settings(max_examples=200, database=None, deadline=None)

SYNC = "sync-1"
OTHER = "sync-2"
ENV = "dev"
OVERWRITE = InitialSyncBehavior.OVERWRITE_DESTINATION
IMPORTS = (
    InitialSyncBehavior.IMPORT_PRIORITIZE_SOURCE,
    InitialSyncBehavior.IMPORT_PRIORITIZE_DESTINATION,
)


class LongValue(str):
    """A value too long for Key Vault, shown by its length in failure reports."""

    def __repr__(self) -> str:
        return f"<{len(self)} characters, {len(self.encode())} bytes>"


TOO_LONG = LongValue("v" * (MAX_VALUE_BYTES + 1))
# Key Vault counts bytes: 12,801 two-byte characters are too many, 12,800 are not.
TOO_MANY_BYTES = LongValue("é" * (MAX_VALUE_BYTES // 2 + 1))
AT_THE_BYTE_LIMIT = LongValue("é" * (MAX_VALUE_BYTES // 2))


def fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def target(**overrides: object) -> SyncTarget:
    fields: dict[str, object] = {"sync_id": SYNC, "environment": ENV}
    fields.update(overrides)
    return SyncTarget(**fields)  # type: ignore[arg-type]


def secret(
    name: str, *, owner: str = "", enabled: bool = True, updated: int = 1, managed: bool = False
) -> VaultSecret:
    tags = {OWNER_TAG: owner} if owner else {}
    return VaultSecret(name=name, enabled=enabled, updated=updated, tags=tags, managed=managed)


def managed(name: str, key: str, value: str, updated: int = 1) -> dict[str, ManagedKey]:
    return {name.lower(): ManagedKey(name, key, fingerprint(value), updated)}


def plan(
    source: Mapping[str, str],
    listing: Iterable[VaultSecret] = (),
    state: Mapping[str, ManagedKey] | None = None,
    problems: Mapping[str, str] | None = None,
    **options: object,
) -> Plan:
    return plan_sync(
        source, problems or {}, list(listing), state or {}, target(**options), fingerprint
    )


def by_name(result: Plan) -> dict[str, Action]:
    """Lowercase vault name -> its action (steps without a name are left out)."""
    return {s.name.lower(): s.action for s in result.steps if s.name}


def writes(result: Plan) -> list[str]:
    return [s.name for s in result.of(*WRITES)]


# --- a small simulated vault ---------------------------------------------------------


@dataclass
class Entry:
    name: str
    value: str
    enabled: bool = True
    updated: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    managed: bool = False  # backs a certificate: Key Vault refuses set and delete


class SimulatedVault:
    """A vault keyed by lowercase name, and the managed state a sync keeps for it."""

    def __init__(
        self, entries: Iterable[Entry] = (), state: Mapping[str, ManagedKey] | None = None
    ) -> None:
        self.entries = {e.name.lower(): e for e in entries}
        self.managed = dict(state or {})
        self.clock = 1_000

    def listing(self) -> list[VaultSecret]:
        return [
            VaultSecret(e.name, e.enabled, e.updated, dict(e.tags), managed=e.managed)
            for e in self.entries.values()
        ]

    def plan(
        self,
        source: Mapping[str, str],
        problems: Mapping[str, str] | None = None,
        **options: object,
    ) -> Plan:
        return plan_sync(
            source, problems or {}, self.listing(), self.managed, target(**options), fingerprint
        )

    def execute(self, result: Plan, source: Mapping[str, str]) -> None:
        for step in result.steps:
            lower = step.name.lower()
            if step.action in (Action.CREATE, Action.UPDATE, Action.VERIFY):
                if step.action is Action.CREATE:
                    assert lower not in self.entries, step
                else:
                    assert self.entries[lower].enabled, step
                    assert not self.entries[lower].managed, step  # Key Vault refuses: 403
                self.clock += 1
                value = source[step.key]
                name = self.entries[lower].name if lower in self.entries else step.name
                self.entries[lower] = Entry(name, value, True, self.clock, {OWNER_TAG: SYNC})
                self.managed[lower] = ManagedKey(name, step.key, fingerprint(value), self.clock)
            elif step.action is Action.DELETE:
                assert not self.entries[lower].managed, step  # Key Vault refuses: 403
                del self.entries[lower]
                self.managed.pop(lower, None)

    def sync(
        self,
        source: Mapping[str, str],
        problems: Mapping[str, str] | None = None,
        **options: object,
    ) -> Plan:
        result = self.plan(source, problems, **options)
        self.execute(result, source)
        return result


# --- collisions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        {"API_KEY": "a", "API-KEY": "b"},
        {"api_key": "a", "API_KEY": "b"},
        {"Api-Key": "a", "API_KEY": "b"},
        {"A_B": "1", "a-b": "2", "OTHER": "3"},
    ],
)
def test_collisions_block_everything(source):
    listing = [secret("OTHER"), secret("ORPHAN", owner=SYNC), secret("API-KEY", owner=SYNC)]
    result = plan(source, listing, first_run=True)
    assert result.blocking
    assert result.steps == []
    assert result.counts() == {}


def test_collision_message_names_the_keys():
    result = plan({"API_KEY": "a", "api-key": "b", "FINE": "c"})
    assert len(result.blocking) == 1
    assert "API_KEY" in result.blocking[0]
    assert "api-key" in result.blocking[0]
    assert "FINE" not in result.blocking[0]


def test_collision_under_a_schema_blocks():
    result = plan({"X": "1", "x": "2"}, key_schema="APP_{{secretKey}}")
    assert result.blocking and result.steps == []


def test_collision_blocks_problems_too():
    result = plan({"K_1": "1", "k-1": "2"}, problems={"BROKEN": "missing reference"})
    assert result.blocking and result.steps == []


def test_keys_that_do_not_collide_do_not_block():
    result = plan({"A_B": "1", "A_C": "2", "AB": "3"})
    assert result.blocking == []
    assert by_name(result) == {"a-b": Action.CREATE, "a-c": Action.CREATE, "ab": Action.CREATE}


# --- failures on their own -------------------------------------------------------------


@pytest.mark.parametrize("key", ["a.b", "a/b", "k" * 128, "x:y"])
def test_invalid_name_fails_alone(key):
    result = plan({key: "v", "GOOD": "v"})
    assert result.blocking == []
    [failed] = result.of(Action.FAIL)
    assert failed.key == key
    assert by_name(result)["good"] is Action.CREATE


def test_name_made_too_long_by_the_schema_fails():
    key = "k" * 120
    result = plan({key: "v", "GOOD": "v"}, key_schema="app-{{environment}}-{{secretKey}}")
    [failed] = result.of(Action.FAIL)
    assert failed.key == key
    assert [s.name for s in result.of(Action.CREATE)] == ["app-dev-GOOD"]


def test_longest_name_is_fine():
    result = plan({"k" * 127: "v"})
    assert result.counts() == {"create": 1}


def test_too_long_value_fails_alone():
    result = plan({"BIG": TOO_LONG, "SMALL": "v", "EDGE": "v" * MAX_VALUE_BYTES})
    [failed] = result.of(Action.FAIL)
    assert failed.key == "BIG" and failed.name == "BIG"
    assert "25601 bytes, more than Key Vault's limit of 25600 bytes" in failed.reason
    assert by_name(result)["small"] is Action.CREATE
    assert by_name(result)["edge"] is Action.CREATE


def test_value_limit_counts_utf8_bytes_not_characters():
    result = plan({"ACCENTS": TOO_MANY_BYTES, "EDGE": AT_THE_BYTE_LIMIT})
    [failed] = result.of(Action.FAIL)
    assert failed.key == "ACCENTS"  # 12,801 characters, 25,602 bytes
    assert "25602 bytes" in failed.reason
    assert by_name(result)["edge"] is Action.CREATE


def test_certificate_backed_secret_of_a_source_key_is_left_and_says_so():
    listing = [secret("TLS-CERT", managed=True)]
    result = plan({"TLS_CERT": "mine"}, listing, managed("TLS-CERT", "TLS_CERT", "old"))
    assert writes(result) == []
    [left] = result.of(Action.LEAVE)
    assert left.name == "TLS-CERT" and left.reason.startswith(CERTIFICATE)


@pytest.mark.parametrize("owner", ["", SYNC])
@pytest.mark.parametrize("first_run", [False, True])
def test_certificate_backed_secret_is_never_deleted(owner, first_run):
    listing = [secret("web-cert", managed=True, owner=owner)]
    result = plan({}, listing, managed("web-cert", "web_cert", "x"), first_run=first_run)
    assert writes(result) == []
    assert result.of(Action.LEAVE)[0].reason.startswith(CERTIFICATE)


def test_too_long_value_keeps_its_vault_secret():
    listing = [secret("BIG", owner=SYNC)]
    result = plan({"BIG": TOO_LONG}, listing, managed("BIG", "BIG", "old"))
    assert writes(result) == []
    kept = [s for s in result.of(Action.LEAVE) if s.name == "BIG"]
    assert len(kept) == 1 and kept[0].reason.startswith("kept")


# --- disabled, foreign-owned and out-of-schema secrets ---------------------------------


def test_disabled_secret_of_a_source_key_is_left():
    listing = [secret("API-KEY", owner=SYNC, enabled=False)]
    result = plan({"API_KEY": "new"}, listing, managed("API-KEY", "API_KEY", "old"))
    assert by_name(result) == {"api-key": Action.LEAVE}
    assert "disabled" in result.steps[0].reason


@pytest.mark.parametrize("owner", ["", SYNC, OTHER])
@pytest.mark.parametrize("first_run", [False, True])
def test_disabled_secret_is_never_deleted(owner, first_run):
    listing = [secret("GONE", owner=owner, enabled=False)]
    result = plan({}, listing, managed("GONE", "GONE", "v"), first_run=first_run)
    assert by_name(result) == {"gone": Action.LEAVE}
    assert writes(result) == []


def test_secret_of_another_sync_is_left_and_reported():
    listing = [secret("SHARED", owner=OTHER), secret("THEIRS", owner=OTHER)]
    result = plan({"SHARED": "v"}, listing, managed("THEIRS", "THEIRS", "v"), first_run=True)
    assert by_name(result) == {"shared": Action.LEAVE, "theirs": Action.LEAVE}
    assert sorted(result.overlaps) == ["SHARED", "THEIRS"]
    assert all(OTHER in s.reason for s in result.steps)


def test_out_of_schema_secrets_are_left():
    listing = [secret("OTHER-THING", owner=SYNC), secret("legacy"), secret("app-GONE", owner=SYNC)]
    result = plan(
        {"KEY": "v"},
        listing,
        managed("OTHER-THING", "THING", "v"),
        key_schema="app-{{secretKey}}",
        first_run=True,
    )
    actions = by_name(result)
    assert actions["other-thing"] is Action.LEAVE
    assert actions["legacy"] is Action.LEAVE
    assert actions["app-gone"] is Action.DELETE
    assert actions["app-key"] is Action.CREATE


# --- deletion --------------------------------------------------------------------------


@pytest.mark.parametrize("first_run", [False, True])
@pytest.mark.parametrize("behavior", list(InitialSyncBehavior))
def test_deletion_disabled_never_deletes(first_run, behavior):
    listing = [secret("MANAGED"), secret("TAGGED", owner=SYNC), secret("UNTAGGED")]
    result = plan(
        {},
        listing,
        managed("MANAGED", "MANAGED", "v"),
        disable_secret_deletion=True,
        first_run=first_run,
        initial_sync_behavior=behavior,
    )
    assert result.of(Action.DELETE) == []
    assert set(by_name(result).values()) == {Action.LEAVE}


def test_deletes_what_this_sync_owns():
    listing = [secret("MANAGED"), secret("TAGGED", owner=SYNC), secret("UNTAGGED")]
    result = plan({}, listing, managed("MANAGED", "OLD_KEY", "v"))
    assert by_name(result) == {
        "managed": Action.DELETE,
        "tagged": Action.DELETE,
        "untagged": Action.LEAVE,
    }
    [deleted] = [s for s in result.steps if s.name == "MANAGED"]
    assert deleted.key == "OLD_KEY"


def test_first_run_overwrite_deletes_untagged_in_schema_secrets():
    listing = [secret("app-STALE"), secret("app-KEY"), secret("unrelated")]
    options = {"key_schema": "app-{{secretKey}}", "initial_sync_behavior": OVERWRITE}
    first = plan({"KEY": "v"}, listing, first_run=True, **options)
    assert by_name(first) == {
        "app-key": Action.VERIFY,
        "app-stale": Action.DELETE,
        "unrelated": Action.LEAVE,
    }
    later = plan({"KEY": "v"}, listing, first_run=False, **options)
    assert by_name(later)["app-stale"] is Action.LEAVE
    assert later.of(Action.DELETE) == []


@pytest.mark.parametrize("behavior", IMPORTS)
@pytest.mark.parametrize("first_run", [False, True])
def test_import_behaviours_never_delete_untagged_secrets(behavior, first_run):
    listing = [secret("UNTAGGED"), secret("TAGGED", owner=SYNC)]
    result = plan({}, listing, first_run=first_run, initial_sync_behavior=behavior)
    assert by_name(result) == {"untagged": Action.LEAVE, "tagged": Action.DELETE}


# --- problem keys ----------------------------------------------------------------------


def test_problem_keys_fail_and_keep_their_vault_secrets():
    listing = [secret("DB-URL", owner=SYNC), secret("OTHER", owner=SYNC)]
    state = {**managed("DB-URL", "DB_URL", "old"), **managed("OTHER", "OTHER", "v")}
    result = plan(
        {"OTHER": "v"}, listing, state, problems={"DB_URL": "missing reference"}, first_run=True
    )
    [failed] = result.of(Action.FAIL)
    assert failed.key == "DB_URL" and "missing reference" in failed.reason
    assert by_name(result) == {"db-url": Action.LEAVE, "other": Action.UNCHANGED}
    [kept] = [s for s in result.steps if s.name == "DB-URL"]
    assert kept.reason.startswith("kept")


def test_problem_key_under_schema_keeps_its_secret():
    listing = [secret("app-DB-URL")]
    result = plan(
        {},
        listing,
        problems={"DB_URL": "cycle"},
        key_schema="APP_{{secretKey}}",
        first_run=True,
    )
    assert by_name(result) == {"app-db-url": Action.LEAVE}
    assert result.of(Action.DELETE) == []


# --- writes only when needed --------------------------------------------------------------


def test_new_key_is_created():
    result = plan({"NEW_KEY": "v"})
    assert [(s.action, s.name, s.key) for s in result.steps] == [
        (Action.CREATE, "NEW-KEY", "NEW_KEY")
    ]


def test_managed_and_unchanged_needs_no_read():
    listing = [secret("KEY", owner=SYNC, updated=7)]
    result = plan({"KEY": "v"}, listing, managed("KEY", "KEY", "v", updated=7))
    assert result.counts() == {"unchanged": 1}
    assert writes(result) == []


def test_changed_in_the_vault_is_verified():
    listing = [secret("KEY", owner=SYNC, updated=8)]
    result = plan({"KEY": "v"}, listing, managed("KEY", "KEY", "v", updated=7))
    assert by_name(result) == {"key": Action.VERIFY}


def test_changed_in_the_source_is_updated():
    listing = [secret("KEY", owner=SYNC, updated=7)]
    result = plan({"KEY": "new"}, listing, managed("KEY", "KEY", "old", updated=7))
    assert by_name(result) == {"key": Action.UPDATE}


def test_existing_secret_not_yet_managed_is_verified():
    for listing, state in [
        ([secret("KEY")], {}),
        ([secret("KEY", owner=SYNC)], {}),
        ([secret("KEY")], managed("KEY", "KEY", "v")),  # managed, but the tag was removed
    ]:
        assert by_name(plan({"KEY": "v"}, listing, state)) == {"key": Action.VERIFY}


def test_vault_name_case_differs_from_source():
    listing = [secret("api-key", owner=SYNC, updated=3)]
    result = plan({"API_KEY": "v"}, listing, managed("api-key", "API_KEY", "v", updated=3))
    assert [(s.action, s.name) for s in result.steps] == [(Action.UNCHANGED, "api-key")]


def test_a_no_op_resync_is_all_unchanged():
    vault = SimulatedVault()
    source = {"A_B": "1", "C": "2", "D-E": "3"}
    vault.sync(source, first_run=True)
    again = vault.plan(source)
    assert again.counts() == {"unchanged": 3}


# --- defects of the peers -------------------------------------------------------------


def test_key_with_hyphen_is_not_recreated_on_every_sync():
    vault = SimulatedVault([Entry("OLD", "x")])
    source = {"MY-KEY": "v", "MY_OTHER": "w"}
    first = vault.sync(source, first_run=True)
    assert by_name(first) == {
        "my-key": Action.CREATE,
        "my-other": Action.CREATE,
        "old": Action.DELETE,
    }
    second = vault.plan(source)
    assert second.counts() == {"unchanged": 2}
    assert {e.name for e in vault.entries.values()} == {"MY-KEY", "MY-OTHER"}


def test_schema_with_underscore_cleans_up_its_own_orphans():
    vault = SimulatedVault()
    schema = "APP_{{environment}}_{{secretKey}}"
    vault.sync({"KEEP": "1", "DROP_ME": "2"}, key_schema=schema, first_run=True)
    assert set(vault.entries) == {"app-dev-keep", "app-dev-drop-me"}
    result = vault.sync({"KEEP": "1"}, key_schema=schema)
    assert by_name(result) == {"app-dev-keep": Action.UNCHANGED, "app-dev-drop-me": Action.DELETE}
    assert set(vault.entries) == {"app-dev-keep"}


def test_two_syncs_on_one_vault_do_not_delete_each_other():
    mine = SimulatedVault()
    mine.sync({"A": "1"}, first_run=True)
    theirs = secret("B", owner=OTHER)
    result = plan_sync(
        {}, {}, [*mine.listing(), theirs], mine.managed, target(first_run=True), fingerprint
    )
    assert by_name(result) == {"a": Action.DELETE, "b": Action.LEAVE}
    assert result.overlaps == ["B"]


# --- failing keys must not let a colliding key overwrite their kept secret ---------------


def test_failed_key_secret_is_not_overwritten_by_colliding_key():
    listing = [secret("A-B", owner=SYNC, updated=1)]
    result = plan(
        {"a-b": "other value"},
        listing,
        managed("A-B", "A_B", "old value", updated=1),
        problems={"A_B": "missing reference"},
    )
    assert "a-b" not in [n.lower() for n in writes(result)]


def test_too_long_key_secret_is_not_overwritten_by_colliding_key():
    listing = [secret("A-B", owner=SYNC, updated=1)]
    result = plan(
        {"A_B": TOO_LONG, "a-b": "other value"},
        listing,
        managed("A-B", "A_B", "old value", updated=1),
    )
    assert "a-b" not in [n.lower() for n in writes(result)]


# --- properties against the simulated vault --------------------------------------------

SCHEMAS = [
    "",
    "{{secretKey}}",
    "APP_{{secretKey}}",
    "{{environment}}-{{secretKey}}",
    "x_{{secretKey}}_Y",
]
ENVIRONMENTS = ["dev", "prod_eu"]
KEY_CHARS = "aAbB_-"

short_keys = st.text(alphabet=KEY_CHARS, min_size=1, max_size=3)
ODD_KEYS = ("a.b", "k" * 130)  # not valid vault names
# Mostly short keys (so that collisions happen), now and then an invalid one.
source_keys = st.tuples(short_keys, st.integers(0, 19)).map(
    lambda pair: ODD_KEYS[pair[1] - 18] if pair[1] >= 18 else pair[0]
)
short_values = st.sampled_from(["", "x", "y", "xy"])
values = st.sampled_from(
    ["", "x", "y", "xy", "yx", "xx", "yy", "xyx", "yyy", TOO_LONG, TOO_MANY_BYTES,
     AT_THE_BYTE_LIMIT]
)
cases = st.sampled_from([str, str.lower, str.upper, str.swapcase])
owners = st.sampled_from(["", SYNC, OTHER])
anywhere_names = st.text(alphabet="aAbBxY-", min_size=1, max_size=6)
behaviors = st.sampled_from(list(InitialSyncBehavior))
sources = st.dictionaries(source_keys, values, max_size=5)
broken_keys = st.lists(short_keys, max_size=2)
attributes = st.tuples(cases, st.booleans(), st.integers(0, 3), owners)
kinds = st.sampled_from(["absent", "synced", "other"])


def _entry(
    name: str, value: str, enabled: bool, updated: int, owner: str, managed: bool = False
) -> Entry:
    return Entry(name, value, enabled, updated, {OWNER_TAG: owner} if owner else {}, managed)


# Now and then a secret that backs a certificate.
certificates = st.integers(0, 4).map(lambda n: n == 0)


def _names(schema: str, environment: str) -> st.SearchStrategy[str]:
    """Vault names the schema produces (in any case) and names it may not."""
    produced = st.builds(
        lambda key, case: case(vault_name(key, schema, environment)), short_keys, cases
    )
    return st.one_of(produced, anywhere_names).filter(is_valid_vault_name)


# Built once: building strategies inside each example would dominate the run time.
NAMES = {(sc, env): _names(sc, env) for sc in SCHEMAS for env in ENVIRONMENTS}
LISTINGS = {
    place: st.lists(
        st.builds(
            _entry, names, short_values, st.booleans(), st.integers(0, 3), owners, certificates
        ),
        max_size=4,
    )
    for place, names in NAMES.items()
}
STALE = {place: st.lists(names, max_size=2) for place, names in NAMES.items()}


@dataclass(frozen=True)
class Scenario:
    source: dict[str, str]
    problems: dict[str, str]
    entries: list[Entry]
    state: dict[str, ManagedKey]
    options: dict[str, object]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    place = draw(st.sampled_from(sorted(NAMES)))
    schema, environment = place
    source = draw(sources)
    problems = {k: "unresolved reference" for k in draw(broken_keys) if k not in source}
    # Secrets under the source keys' names (holding their value or not), then others.
    entries: list[Entry] = []
    state: dict[str, ManagedKey] = {}
    for key, value in source.items():
        name = vault_name(key, schema, environment)
        kind = draw(kinds)
        if not is_valid_vault_name(name) or kind == "absent" or name.lower() in state:
            continue
        case, enabled, updated, owner = draw(attributes)
        if kind == "synced":  # as the last run left it
            entries.append(_entry(case(name), value, True, updated, SYNC))
            state[name.lower()] = ManagedKey(case(name), key, fingerprint(value), updated)
        elif all(e.name.lower() != name.lower() for e in entries):
            held = value if draw(st.booleans()) else draw(short_values)
            entries.append(_entry(case(name), held, enabled, updated, owner, draw(certificates)))
    entries += draw(LISTINGS[place])
    entries = list({e.name.lower(): e for e in reversed(entries)}.values())[::-1]
    # What else this sync recorded: stale names, and some of the secrets in the vault.
    for stale in draw(STALE[place]):
        state.setdefault(stale.lower(), ManagedKey(stale, stale, fingerprint("stale"), 0))
    for entry in entries:
        if entry.name.lower() not in state and draw(st.booleans()):
            recorded = entry.value if draw(st.booleans()) else draw(short_values)
            edited = draw(st.booleans())
            if not edited:
                # Nobody touched it since: the vault holds what was last written.
                entry.value = recorded
            state[entry.name.lower()] = ManagedKey(
                entry.name, entry.name, fingerprint(recorded), entry.updated + edited
            )
    options: dict[str, object] = {
        "key_schema": schema,
        "environment": environment,
        "disable_secret_deletion": draw(st.booleans()),
        "first_run": draw(st.booleans()),
        "initial_sync_behavior": draw(behaviors),
    }
    return Scenario(source, problems, entries, state, options)


def in_schema(name: str, options: Mapping[str, object]) -> bool:
    """An oracle written apart from SchemaMatcher: could the schema produce this name?"""
    schema = str(options["key_schema"])
    if not schema:
        return True
    converted = schema.replace("{{environment}}", str(options["environment"]))
    before, _, after = converted.replace("_", "-").partition("{{secretKey}}")
    lowered = name.lower()
    return (
        len(name) > len(before) + len(after)
        and lowered.startswith(before.lower())
        and lowered.endswith(after.lower())
    )


def first_plan(s: Scenario) -> tuple[SimulatedVault, Plan]:
    vault = SimulatedVault(
        [Entry(**{**e.__dict__, "tags": dict(e.tags)}) for e in s.entries], s.state
    )
    return vault, vault.plan(s.source, s.problems, **s.options)


def check_no_forbidden_writes(s: Scenario, result: Plan) -> None:
    """(a) nothing outside the schema, disabled, backing a certificate or owned by
    another sync is written."""
    before = {e.name.lower(): e for e in s.entries}
    for step in result.of(*WRITES):
        lower = step.name.lower()
        assert in_schema(step.name, s.options), step
        if lower in before:
            assert before[lower].enabled, step
            assert not before[lower].managed, step
            assert before[lower].tags.get(OWNER_TAG, "") in ("", SYNC), step
    for name in result.overlaps:
        assert before[name.lower()].tags.get(OWNER_TAG) == OTHER, name


def check_deletes(s: Scenario, result: Plan) -> None:
    """(b) no DELETE with deletion disabled; otherwise only what this sync may delete."""
    deletes = result.of(Action.DELETE)
    if s.options["disable_secret_deletion"]:
        assert deletes == []
    before = {e.name.lower(): e for e in s.entries}
    schema, environment = str(s.options["key_schema"]), str(s.options["environment"])
    wanted = {vault_name(k, schema, environment).lower() for k in [*s.source, *s.problems]}
    first_overwrite = s.options["first_run"] and s.options["initial_sync_behavior"] is OVERWRITE
    for step in deletes:
        lower = step.name.lower()
        assert lower not in wanted, step  # neither a source key's nor a failed key's secret
        entry = before[lower]
        owned = lower in s.state or entry.tags.get(OWNER_TAG) == SYNC
        assert owned or (first_overwrite and not entry.tags), step


def check_blocking(result: Plan) -> None:
    """(c) a blocked plan has no steps at all."""
    if result.blocking:
        assert result.steps == []
        assert result.overlaps == []


def check_converged(s: Scenario, first: Plan, vault: SimulatedVault) -> None:
    """(d) after executing the plan, a later plan has nothing left to write."""
    again = vault.plan(s.source, s.problems, **{**s.options, "first_run": False})
    assert again.of(*WRITES) == []
    assert again.blocking == first.blocking


def check_vault_holds_source(s: Scenario, first: Plan, vault: SimulatedVault) -> None:
    """(e) every key that did not fail is in the vault with its value, tagged as ours,
    unless its name is disabled or owned by another sync; those are as they were."""
    if first.blocking:
        return
    before = {e.name.lower(): e for e in s.entries}
    failed = {step.key for step in first.of(Action.FAIL)}
    schema, environment = str(s.options["key_schema"]), str(s.options["environment"])
    for key, value in s.source.items():
        if key in failed:
            continue
        lower = vault_name(key, schema, environment).lower()
        old = before.get(lower)
        if old is not None and (
            not old.enabled or old.managed or old.tags.get(OWNER_TAG, "") not in ("", SYNC)
        ):
            assert vault.entries[lower] == old, key
            continue
        assert vault.entries[lower].value == value, key
        assert vault.entries[lower].tags == {OWNER_TAG: SYNC}, key


def check_cleaned_up(s: Scenario, first: Plan, vault: SimulatedVault) -> None:
    """Orphans this sync may delete are gone after one run: owned (managed or tagged
    with its id) or, on a first run that overwrites, untagged; always within the
    schema, enabled, and not the name of any key, failed or not."""
    if first.blocking or s.options["disable_secret_deletion"]:
        return
    schema, environment = str(s.options["key_schema"]), str(s.options["environment"])
    wanted = {vault_name(k, schema, environment).lower() for k in [*s.source, *s.problems]}
    first_overwrite = s.options["first_run"] and s.options["initial_sync_behavior"] is OVERWRITE
    for entry in s.entries:
        lower, owner = entry.name.lower(), entry.tags.get(OWNER_TAG, "")
        if lower in wanted or not entry.enabled or entry.managed:
            continue
        if not in_schema(entry.name, s.options):
            continue
        if owner == SYNC or (not owner and (lower in s.state or first_overwrite)):
            assert lower not in vault.entries, entry


def check_untouched(s: Scenario, first: Plan, vault: SimulatedVault) -> None:
    """Secrets the plan does not write or delete are exactly as they were."""
    touched = {step.name.lower() for step in first.of(*WRITES)}
    for entry in s.entries:
        if entry.name.lower() not in touched:
            assert vault.entries[entry.name.lower()] == entry


# One test runs every property on each scenario: generating scenarios is the cost.
@FAST
@given(scenarios())
def test_plan_properties(s):
    vault, result = first_plan(s)
    check_no_forbidden_writes(s, result)
    check_deletes(s, result)
    check_blocking(result)
    vault.execute(result, s.source)
    check_converged(s, result, vault)
    check_vault_holds_source(s, result, vault)
    check_cleaned_up(s, result, vault)
    check_untouched(s, result, vault)


@settings(
    max_examples=200,
    database=None,
    deadline=None,
    derandomize=True,
    phases=[Phase.generate],  # the examples above are the shrunk cases
    report_multiple_bugs=False,
)
@given(scenarios())
def test_one_decision_per_vault_name_and_failed_keys_keep_their_secrets(s):
    _, result = first_plan(s)
    # FAIL steps are about keys; every other step is the one decision on a vault name.
    named = [step.name.lower() for step in result.steps if step.action is not Action.FAIL]
    assert len(named) == len(set(named)), result.steps
    schema, environment = str(s.options["key_schema"]), str(s.options["environment"])
    failed = {step.key for step in result.of(Action.FAIL)}
    existing = {e.name.lower() for e in s.entries}
    kept = {vault_name(k, schema, environment).lower() for k in failed} & existing
    assert not kept & {step.name.lower() for step in result.of(*WRITES)}, result.steps
