"""Unit tests for domain/resolve.py: imports merged, references expanded, problems per key."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import FailedPrecondition
from domain.references import MAX_DEPTH, references_in
from domain.resolve import (
    Loader,
    Place,
    SourceFolder,
    Sources,
    check_reference_cycles,
    folders_read_by,
    resolve,
)

FAST = settings(max_examples=100, database=None, deadline=None)

APP: Place = ("dev", "/app")
SHARED: Place = ("dev", "/shared")
BASE: Place = ("dev", "/base")
OTHER: Place = ("prod", "/other")
UNRELATED: Place = ("dev", "/unrelated")


def source(place: Place, values: dict[str, str], imports: list[Place] = ()) -> SourceFolder:
    def absolute(key: str) -> list[tuple[str, str, str]]:
        return [
            (*place, r.key) if r.is_local else (r.environment, r.path, r.key)
            for r in references_in(values[key])
        ]

    return SourceFolder(
        refs={key: absolute(key) for key in values},
        imports=list(imports),
        value=lambda key: values[key],
    )


def loader(spec: dict[Place, tuple[dict[str, str], list[Place]] | dict[str, str]]) -> Loader:
    """A loader over {place: values} or {place: (values, imports)}; counts its loads."""
    folders = {}
    for place, entry in spec.items():
        values, imports = entry if isinstance(entry, tuple) else (entry, [])
        folders[place] = source(place, values, imports)

    def load(environment: str, path: str) -> SourceFolder | None:
        return folders.get((environment, path))

    return load


def resolved(place: Place, spec: dict) -> tuple[dict[str, str], dict[str, str]]:
    resolution = resolve(*place, loader(spec))
    return resolution.values, resolution.problems


# --- imports ----------------------------------------------------------------------------


def test_own_keys_win_over_imports() -> None:
    values, problems = resolved(
        APP, {APP: ({"A": "own", "B": "own-b"}, [SHARED]), SHARED: {"A": "shared", "C": "c"}}
    )
    assert values == {"A": "own", "B": "own-b", "C": "c"}
    assert problems == {}


def test_earlier_import_wins() -> None:
    values, _ = resolved(
        APP,
        {
            APP: ({}, [SHARED, BASE]),
            SHARED: {"A": "shared-a"},
            BASE: {"A": "base-a", "B": "base-b"},
        },
    )
    assert values == {"A": "shared-a", "B": "base-b"}


def test_imports_are_transitive() -> None:
    values, _ = resolved(
        APP,
        {
            APP: ({"A": "app"}, [SHARED, OTHER]),
            SHARED: ({"B": "shared"}, [BASE]),
            BASE: {"A": "base-a", "B": "base-b", "C": "base-c"},
            OTHER: {"C": "other-c", "D": "other-d"},
        },
    )
    # BASE comes in through SHARED, which is earlier than OTHER, so BASE's C wins.
    assert values == {"A": "app", "B": "shared", "C": "base-c", "D": "other-d"}


def test_missing_imported_folder_contributes_nothing() -> None:
    values, problems = resolved(APP, {APP: ({"A": "a"}, [SHARED])})
    assert values == {"A": "a"}
    assert problems == {}


def test_missing_folder_resolves_to_nothing() -> None:
    assert resolved(APP, {}) == ({}, {})


def test_diamond_imports_load_each_folder_once() -> None:
    spec = {
        APP: ({}, [SHARED, OTHER]),
        SHARED: ({"S": "s"}, [BASE]),
        OTHER: ({"O": "o"}, [BASE]),
        BASE: {"B": "b"},
    }
    inner = loader(spec)
    calls: list[tuple[str, str]] = []

    def load(environment: str, path: str) -> SourceFolder | None:
        calls.append((environment, path))
        return inner(environment, path)

    assert resolve(*APP, load).values == {"S": "s", "O": "o", "B": "b"}
    assert sorted(calls) == sorted(set(calls))


def test_import_cycle() -> None:
    sources = Sources(loader({APP: ({}, [SHARED]), SHARED: ({}, [BASE]), BASE: ({}, [APP])}))
    with pytest.raises(FailedPrecondition) as raised:
        sources.origins(APP)
    assert raised.value.reason == "IMPORT_CYCLE"
    assert "dev:/app" in str(raised.value)


def test_resolve_skips_the_import_that_closes_a_cycle() -> None:
    # Writes refuse cycles; two racing writes could still make one. Resolution then
    # skips the closing import instead of failing every key.
    result = resolve(*APP, loader({APP: ({"A": "a"}, [SHARED]), SHARED: ({"B": "b"}, [APP])}))
    assert result.values == {"A": "a", "B": "b"}
    assert result.problems == {}


def test_origins_name_the_source_folder() -> None:
    sources = Sources(loader({APP: ({"A": "a"}, [SHARED]), SHARED: {"A": "x", "B": "b"}}))
    assert sources.origins(APP) == {"A": APP, "B": SHARED}
    assert sources.target(APP, "B") == (*SHARED, "B")
    assert sources.target(APP, "Z") is None


# --- references --------------------------------------------------------------------------


def test_local_reference() -> None:
    spec = {APP: {"HOST": "db", "URL": "pg://${HOST}:${PORT}", "PORT": "5"}}
    values, problems = resolved(APP, spec)
    assert values["URL"] == "pg://db:5"
    assert problems == {}


def test_local_reference_to_an_imported_key() -> None:
    values, _ = resolved(APP, {APP: ({"URL": "${HOST}"}, [SHARED]), SHARED: {"HOST": "h"}})
    assert values["URL"] == "h"


def test_local_reference_in_an_import_resolves_in_its_own_folder() -> None:
    values, _ = resolved(
        APP,
        {
            APP: ({"HOST": "app-host"}, [SHARED]),
            SHARED: {"HOST": "shared-host", "URL": "http://${HOST}"},
        },
    )
    assert values == {"HOST": "app-host", "URL": "http://shared-host"}


def test_cross_folder_reference() -> None:
    values, problems = resolved(
        APP,
        {
            APP: {"URL": "${prod.other.USER}@${dev.shared.HOST}", "ROOT": "${dev.R}"},
            OTHER: {"USER": "u"},
            SHARED: ({"X": "x"}, [BASE]),
            BASE: {"HOST": "base-host"},
            ("dev", "/"): {"R": "root"},
        },
    )
    assert values == {"URL": "u@base-host", "ROOT": "root"}
    assert problems == {}


def test_references_expand_recursively_across_folders() -> None:
    values, _ = resolved(
        APP,
        {
            APP: {"A": "[${dev.shared.B}]"},
            SHARED: {"B": "(${C})", "C": "${prod.other.D}"},
            OTHER: {"D": "d"},
        },
    )
    assert values == {"A": "[(d)]"}


def test_malformed_references_stay_literal() -> None:
    values, problems = resolved(APP, {APP: {"A": "${} ${a b} ${Dev.X} ${HOME:-x}", "B": "$B"}})
    assert values == {"A": "${} ${a b} ${Dev.X} ${HOME:-x}", "B": "$B"}
    assert problems == {}


def test_expanded_values_are_not_expanded_again() -> None:
    # A referenced value is expanded once; what it expands to is taken as is.
    values, _ = resolved(APP, {APP: {"A": "${B}", "B": "x", "C": "$${B}"}})
    assert values == {"A": "x", "B": "x", "C": "$x"}


def chain(length: int) -> dict[str, str]:
    """K0 -> K1 -> ... -> K<length>: `length` references deep."""
    values = {f"K{i}": f"${{K{i + 1}}}" for i in range(length)}
    values[f"K{length}"] = "end"
    return values


def test_reference_chain_up_to_max_depth() -> None:
    values, problems = resolved(APP, {APP: chain(MAX_DEPTH)})
    assert problems == {}
    assert set(values.values()) == {"end"}
    check_reference_cycles(*APP, list(chain(MAX_DEPTH)), loader({APP: chain(MAX_DEPTH)}))


def test_reference_chain_deeper_than_max_depth() -> None:
    values, problems = resolved(APP, {APP: chain(MAX_DEPTH + 1)})
    assert set(problems) == {"K0"}
    assert "deeper" in problems["K0"]
    assert values == {f"K{i}": "end" for i in range(1, MAX_DEPTH + 2)}
    with pytest.raises(FailedPrecondition) as raised:
        check_reference_cycles(*APP, ["K0"], loader({APP: chain(MAX_DEPTH + 1)}))
    assert raised.value.reason == "REFERENCE_TOO_DEEP"
    check_reference_cycles(*APP, ["K1"], loader({APP: chain(MAX_DEPTH + 1)}))


def test_reference_cycle_is_a_problem_of_its_keys_only() -> None:
    spec = {
        APP: {"A": "${dev.shared.B}", "SELF": "x${SELF}", "OK": "ok", "USES_OK": "<${OK}>"},
        SHARED: {"B": "${dev.app.A}"},
    }
    values, problems = resolved(APP, spec)
    assert set(problems) == {"A", "SELF"}
    assert all("cycle" in text for text in problems.values())
    assert values == {"OK": "ok", "USES_OK": "<ok>"}


def test_key_leading_into_a_cycle_is_a_problem_too() -> None:
    values, problems = resolved(APP, {APP: {"A": "${B}", "B": "${A}", "C": "${A}", "D": "d"}})
    assert set(problems) == {"A", "B", "C"}
    assert values == {"D": "d"}


def test_missing_reference_is_a_problem_of_that_key() -> None:
    values, problems = resolved(
        APP,
        {APP: {"A": "secret-a ${NOPE}", "B": "${prod.other.X}", "C": "secret-c", "D": "${C}"}},
    )
    assert set(problems) == {"A", "B"}
    assert "does not exist" in problems["A"]
    assert "NOPE" in problems["A"]
    assert "prod:/other:X" in problems["B"]
    assert values == {"C": "secret-c", "D": "secret-c"}
    # Problems name keys, never values.
    assert not any("secret-" in text for text in problems.values())


def test_check_reference_cycles() -> None:
    spec = {
        APP: {"A": "${dev.shared.B}", "C": "${NOPE} ${prod.other.X}", "L": "${dev.shared.L}"},
        SHARED: {"B": "${dev.app.A}", "L": "${A}"},
    }
    load = loader(spec)
    for place, key in [(APP, "A"), (SHARED, "B")]:
        with pytest.raises(FailedPrecondition) as raised:
            check_reference_cycles(*place, [key], load)
        assert raised.value.reason == "REFERENCE_CYCLE"
        assert "dev:/app:A" in str(raised.value)
    check_reference_cycles(*APP, ["C"], load)  # a missing target is not a cycle
    # SHARED's L reads its own folder's A, which SHARED does not have: no cycle.
    check_reference_cycles(*APP, ["L"], load)


def test_check_reference_cycles_self_reference() -> None:
    with pytest.raises(FailedPrecondition) as raised:
        check_reference_cycles(*APP, ["A"], loader({APP: {"A": "${A}"}}))
    assert raised.value.reason == "REFERENCE_CYCLE"


def test_folders_read_by() -> None:
    spec = {
        APP: ({"A": "${prod.other.X}", "L": "${A}"}, [SHARED]),
        SHARED: ({"S": "s"}, [BASE]),
        BASE: {"B": "${dev.y.Z}"},
        OTHER: ({"X": "x"}, [("prod", "/imported-by-other")]),
        UNRELATED: ({"U": "${dev.app.A}"}, [APP]),
    }
    read = folders_read_by(*APP, loader(spec))
    assert read == {APP, SHARED, BASE, OTHER, ("dev", "/y"), ("prod", "/imported-by-other")}
    assert UNRELATED not in read
    assert folders_read_by(*UNRELATED, loader(spec)) >= read | {UNRELATED}


def test_folders_read_by_tolerates_cycles() -> None:
    spec = {APP: ({"A": "${dev.shared.B}"}, [SHARED]), SHARED: ({"B": "${dev.app.A}"}, [APP])}
    assert folders_read_by(*APP, loader(spec)) == {APP, SHARED}


# --- properties -----------------------------------------------------------------------------

PLACES = [("dev", f"/f{i}") for i in range(5)]
KEYS = ["A", "B", "C", "D"]


@st.composite
def import_dags(draw: st.DrawFn) -> dict[Place, tuple[dict[str, str], list[Place]]]:
    """Folders f0..f4 (some missing); f<i> may import only f<j> with j > i, in any order."""
    spec: dict[Place, tuple[dict[str, str], list[Place]]] = {}
    for index, place in enumerate(PLACES):
        if draw(st.booleans()) and index:
            continue  # this folder does not exist
        keys = draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=len(KEYS)))
        later = PLACES[index + 1 :]
        imports = draw(st.lists(st.sampled_from(later), unique=True)) if later else []
        spec[place] = ({key: f"{place[1]}:{key}" for key in keys}, imports)
    return spec


def reference_resolve(
    place: Place, spec: dict[Place, tuple[dict[str, str], list[Place]]]
) -> dict[str, str]:
    """The folders in order of precedence (itself, then each import's, depth first);
    the first folder holding a key gives its value."""

    def order(at: Place) -> list[Place]:
        if at not in spec:
            return []
        return [at, *(p for imported in spec[at][1] for p in order(imported))]

    result: dict[str, str] = {}
    for at in order(place):
        for key, value in spec[at][0].items():
            result.setdefault(key, value)
    return result


@FAST
@given(spec=import_dags())
def test_resolve_matches_a_reference_implementation(spec: dict) -> None:
    resolution = resolve(*PLACES[0], loader(spec))
    assert resolution.problems == {}
    assert resolution.values == reference_resolve(PLACES[0], spec)


REF_TARGETS = st.tuples(st.sampled_from([APP, SHARED]), st.sampled_from(KEYS))


@FAST
@given(
    app_refs=st.dictionaries(st.sampled_from(KEYS), st.lists(REF_TARGETS, max_size=3), min_size=1),
    shared_refs=st.dictionaries(st.sampled_from(KEYS), st.lists(REF_TARGETS, max_size=2)),
)
def test_check_reference_cycles_agrees_with_resolve(
    app_refs: dict[str, list[tuple[Place, str]]],
    shared_refs: dict[str, list[tuple[Place, str]]],
) -> None:
    """With every referenced key present, a key is refused on write (loop or too deep)
    exactly when resolving it reports a problem."""
    existing = {APP: set(app_refs), SHARED: set(shared_refs)}

    def value(entries: list[tuple[Place, str]]) -> str:
        present = [(p, k) for p, k in entries if k in existing[p]]
        return " ".join(f"${{{p[0]}.{p[1].strip('/')}.{k}}}" for p, k in present) or "plain"

    app_values = {key: value(entries) for key, entries in app_refs.items()}
    shared_values = {key: value(entries) for key, entries in shared_refs.items()}
    load = loader({APP: app_values, SHARED: shared_values})
    problems = resolve(*APP, load).problems
    assert all("does not exist" not in text for text in problems.values())
    for key in app_values:
        try:
            check_reference_cycles(*APP, [key], load)
            refused = False
        except FailedPrecondition as error:
            assert error.reason in {"REFERENCE_CYCLE", "REFERENCE_TOO_DEEP"}
            refused = True
        assert refused == (key in problems), (key, app_values, shared_values, problems)


# --- Key Vault's value limit --------------------------------------------------------------


def test_a_value_over_key_vaults_limit_in_bytes_is_a_problem_of_its_key() -> None:
    half = "é" * 6_400  # 12,800 bytes
    values, problems = resolved(
        APP,
        {APP: {"BIG": "${HALF}${HALF}x", "EDGE": "${HALF}${HALF}", "HALF": half, "OK": "v"}},
    )
    assert set(values) == {"EDGE", "HALF", "OK"}  # EDGE is exactly 25,600 bytes
    assert problems == {"BIG": "value is 25601 bytes, more than Key Vault's limit of 25600 bytes"}
