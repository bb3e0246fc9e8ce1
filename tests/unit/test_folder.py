"""Unit tests for domain/folder.py: secrets, versions, imports, the tree, deletion."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag

from adapters.envelope import ProjectCipher, RootKey
from domain.crypto import secret_aad
from domain.errors import AlreadyExists, FailedPrecondition, NotFound
from domain.folder import Folder, folder_id, parent_of

ROOT = RootKey.from_text(RootKey.generate_text())
SECRET_VALUES = ["s3cr3t-alpha-9f2c", "p@ssw0rd-beta-71aa", "token-gamma-0b5e"]


@pytest.fixture
def project_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def cipher(project_id: str) -> ProjectCipher:
    return ROOT.cipher_for(project_id, ROOT.new_wrapped_data_key(project_id))


def new_folder(project_id: str, path: str = "/app", environment: str = "dev") -> Folder:
    folder = Folder.create(project_id, environment, path, "alice", "req-0")
    folder.collect_events()
    return folder


@pytest.fixture
def folder(project_id: str) -> Folder:
    return new_folder(project_id)


def strings_in(obj: Any, seen: set[int] | None = None) -> list[str]:
    """Every string reachable from an event: attributes, containers, nested objects."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, bytes):
        return [obj.decode("latin-1")]
    if isinstance(obj, dict):
        return [s for k, v in obj.items() for s in strings_in(k, seen) + strings_in(v, seen)]
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [s for item in obj for s in strings_in(item, seen)]
    found = [repr(obj)]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for field in dataclasses.fields(obj):
            found += strings_in(getattr(obj, field.name), seen)
    if hasattr(obj, "__dict__"):
        found += strings_in(vars(obj), seen)
    return found


# --- identity ------------------------------------------------------------------------


def test_folder_id_is_deterministic(project_id: str) -> None:
    assert folder_id(project_id, "dev", "/a") == folder_id(project_id, "dev", "/a")
    assert folder_id(project_id, "dev", "/a") != folder_id(project_id, "dev", "/b")
    assert folder_id(project_id, "dev", "/a") != folder_id(project_id, "prod", "/a")
    assert folder_id(project_id, "dev", "/a") != folder_id(str(uuid.uuid4()), "dev", "/a")
    assert new_folder(project_id, "/a").id == folder_id(project_id, "dev", "/a")


@pytest.mark.parametrize(
    ("path", "parent"), [("/a/b", "/a"), ("/a", "/"), ("/a/b/c", "/a/b"), ("/", "/")]
)
def test_parent_of(path: str, parent: str) -> None:
    assert parent_of(path) == parent


# --- secrets ---------------------------------------------------------------------------


def test_set_secrets_counts(folder: Folder, cipher: ProjectCipher) -> None:
    counts = folder.set_secrets([("A", "1", ""), ("B", "2", "note")], cipher, "a", "r")
    assert counts == {"created": 2, "updated": 0, "unchanged": 0}
    assert len(folder.collect_events()) == 1

    counts = folder.set_secrets(
        [("A", "1", ""), ("B", "2", "other note"), ("C", "3", "")], cipher, "a", "r"
    )
    assert counts == {"created": 1, "updated": 1, "unchanged": 1}
    [event] = folder.collect_events()
    assert isinstance(event, Folder.SecretsSet)
    assert [item["key"] for item in event.items] == ["B", "C"]
    assert folder.secret("A")["version"] == 1
    assert folder.secret("B")["version"] == 2
    assert folder.secret("B")["comment"] == "other note"


def test_unchanged_writes_trigger_no_event(folder: Folder, cipher: ProjectCipher) -> None:
    folder.set_secrets([("A", "1", "c")], cipher, "a", "r")
    folder.collect_events()
    version = folder.version
    counts = folder.set_secrets([("A", "1", "c")], cipher, "a", "r")
    assert counts == {"created": 0, "updated": 0, "unchanged": 1}
    assert folder.collect_events() == []
    assert folder.version == version


def test_value_change_updates(folder: Folder, cipher: ProjectCipher) -> None:
    folder.set_secrets([("A", "1", "c")], cipher, "a", "r")
    counts = folder.set_secrets([("A", "2", "c")], cipher, "a", "r")
    assert counts == {"created": 0, "updated": 1, "unchanged": 0}
    assert folder.open_secret("A", cipher) == "2"


def test_versions_increase_and_old_ones_open(folder: Folder, cipher: ProjectCipher) -> None:
    for value in SECRET_VALUES:
        folder.set_secrets([("K", value, "")], cipher, "a", "r")
    assert folder.secret("K")["version"] == 3
    assert folder.last_version("K") == 3
    assert folder.open_secret("K", cipher) == SECRET_VALUES[-1]
    for version, value in enumerate(SECRET_VALUES, start=1):
        assert folder.secret("K", version)["version"] == version
        assert folder.open_secret("K", cipher, version) == value
    with pytest.raises(NotFound) as raised:
        folder.secret("K", 4)
    assert raised.value.reason == "SECRET_NOT_FOUND"
    with pytest.raises(NotFound):
        folder.secret("MISSING")


def test_ciphertext_is_bound_to_key_and_version(
    folder: Folder, cipher: ProjectCipher, project_id: str
) -> None:
    folder.set_secrets([("K", "v", "")], cipher, "a", "r")
    entry = folder.secret("K")
    assert cipher.open(entry["ciphertext"], secret_aad(project_id, "dev", "/app", "K", 1)) == "v"
    with pytest.raises(InvalidTag):
        cipher.open(entry["ciphertext"], secret_aad(project_id, "dev", "/app", "K", 2))
    with pytest.raises(InvalidTag):
        cipher.open(entry["ciphertext"], secret_aad(project_id, "dev", "/app", "L", 1))


def test_events_never_hold_plaintext(folder: Folder, cipher: ProjectCipher) -> None:
    folder.set_secrets(
        [(f"K{i}", value, "a comment") for i, value in enumerate(SECRET_VALUES)],
        cipher,
        "a",
        "r",
    )
    folder.set_secrets([("K0", SECRET_VALUES[1], "")], cipher, "a", "r")
    folder.delete_secret("K2", "a", "r")
    folder.set_secrets([("K2", SECRET_VALUES[2], "")], cipher, "a", "r")
    events = folder.collect_events()
    assert len(events) == 4
    texts = strings_in(events)
    assert any("ciphertext" in t for t in texts)  # the walk does reach the items
    for value in SECRET_VALUES:
        assert not any(value in text for text in texts), value
    # And the state holds no plaintext either.
    state = strings_in(folder.secrets) + strings_in(folder.history)
    for value in SECRET_VALUES:
        assert not any(value in text for text in state)


def test_refs_are_recorded_absolute(folder: Folder, cipher: ProjectCipher) -> None:
    folder.set_secrets(
        [
            ("A", "${KEY}", ""),
            ("B", "x ${prod.a.b.KEY} ${dev.OTHER} ${bad key} ${Dev.X}", ""),
            ("C", "no refs", ""),
        ],
        cipher,
        "a",
        "r",
    )
    assert folder.secret("A")["refs"] == [["dev", "/app", "KEY"]]
    assert folder.secret("B")["refs"] == [["prod", "/a/b", "KEY"], ["dev", "/", "OTHER"]]
    assert folder.secret("C")["refs"] == []
    assert folder.referenced_folders() == {("prod", "/a/b"), ("dev", "/")}


def test_delete_secret_keeps_version_numbering(folder: Folder, cipher: ProjectCipher) -> None:
    folder.set_secrets([("K", "one", "")], cipher, "a", "r")
    folder.set_secrets([("K", "two", "")], cipher, "a", "r")
    assert folder.delete_secret("K", "a", "r") == 2
    assert "K" not in folder.secrets
    with pytest.raises(NotFound):
        folder.secret("K")
    with pytest.raises(NotFound):
        folder.delete_secret("K", "a", "r")
    assert folder.last_version("K") == 2
    counts = folder.set_secrets([("K", "two", "")], cipher, "a", "r")
    assert counts == {"created": 1, "updated": 0, "unchanged": 0}
    assert folder.secret("K")["version"] == 3
    assert [folder.open_secret("K", cipher, v) for v in (1, 2, 3)] == ["one", "two", "two"]
    # Every version has its own associated data.
    ciphertexts = {folder.secret("K", v)["ciphertext"] for v in (1, 2, 3)}
    assert len(ciphertexts) == 3


# --- imports -----------------------------------------------------------------------------


def test_imports(folder: Folder) -> None:
    folder.add_import("i1", "dev", "/shared", "a", "r")
    folder.add_import("i2", "prod", "/app", "a", "r")
    assert folder.imports == [
        {"id": "i1", "environment": "dev", "path": "/shared"},
        {"id": "i2", "environment": "prod", "path": "/app"},
    ]
    folder.remove_import("i1", "a", "r")
    assert [i["id"] for i in folder.imports] == ["i2"]


def test_import_of_itself_is_a_cycle(folder: Folder) -> None:
    with pytest.raises(FailedPrecondition) as raised:
        folder.add_import("i1", "dev", "/app", "a", "r")
    assert raised.value.reason == "IMPORT_CYCLE"


def test_duplicate_import(folder: Folder) -> None:
    folder.add_import("i1", "dev", "/shared", "a", "r")
    with pytest.raises(AlreadyExists) as raised:
        folder.add_import("i2", "dev", "/shared", "a", "r")
    assert raised.value.reason == "IMPORT_EXISTS"


def test_remove_unknown_import(folder: Folder) -> None:
    folder.add_import("i1", "dev", "/shared", "a", "r")
    with pytest.raises(NotFound) as raised:
        folder.remove_import("nope", "a", "r")
    assert raised.value.reason == "IMPORT_NOT_FOUND"


# --- the tree ---------------------------------------------------------------------------


def test_children(folder: Folder) -> None:
    folder.add_child("/app/b", "a", "r")
    folder.add_child("/app/a", "a", "r")
    assert folder.children == ["/app/a", "/app/b"]
    with pytest.raises(AlreadyExists) as raised:
        folder.add_child("/app/a", "a", "r")
    assert raised.value.reason == "FOLDER_EXISTS"
    folder.remove_child("/app/a", "a", "r")
    folder.collect_events()
    folder.remove_child("/app/missing", "a", "r")  # nothing to do, no event
    assert folder.collect_events() == []
    assert folder.children == ["/app/b"]


def test_root_cannot_be_deleted(project_id: str) -> None:
    root = new_folder(project_id, "/")
    with pytest.raises(FailedPrecondition) as raised:
        root.delete("a", "r")
    assert raised.value.reason == "ROOT_FOLDER"
    assert not root.deleted


def test_commands_on_a_deleted_folder(folder: Folder, cipher: ProjectCipher) -> None:
    folder.set_secrets([("K", "v", "")], cipher, "a", "r")
    folder.add_import("i1", "dev", "/shared", "a", "r")
    folder.delete("a", "r")
    assert folder.deleted
    commands = [
        lambda: folder.set_secrets([("K", "w", "")], cipher, "a", "r"),
        lambda: folder.delete_secret("K", "a", "r"),
        lambda: folder.add_import("i2", "dev", "/other", "a", "r"),
        lambda: folder.remove_import("i1", "a", "r"),
        lambda: folder.add_child("/app/c", "a", "r"),
        lambda: folder.delete("a", "r"),
    ]
    folder.collect_events()
    for command in commands:
        with pytest.raises(NotFound) as raised:
            command()
        assert raised.value.reason == "FOLDER_NOT_FOUND"
    assert folder.collect_events() == []


def test_revive_empties_the_folder_and_keeps_versions(
    folder: Folder, cipher: ProjectCipher
) -> None:
    folder.set_secrets([("K", "one", ""), ("L", "x", "")], cipher, "a", "r")
    folder.set_secrets([("K", "two", "")], cipher, "a", "r")
    folder.add_import("i1", "dev", "/shared", "a", "r")
    folder.add_child("/app/sub", "a", "r")
    with pytest.raises(AlreadyExists) as raised:
        folder.revive("a", "r")
    assert raised.value.reason == "FOLDER_EXISTS"
    folder.delete("a", "r")
    folder.revive("a", "r")
    assert not folder.deleted
    assert (folder.secrets, folder.imports, folder.children) == ({}, [], [])
    assert folder.last_version("K") == 2
    folder.set_secrets([("K", "three", "")], cipher, "a", "r")
    assert folder.secret("K")["version"] == 3
    assert folder.open_secret("K", cipher, 1) == "one"
    assert folder.open_secret("K", cipher) == "three"
    assert folder.open_secret("L", cipher, 1) == "x"


def test_replay_gives_the_same_state(folder: Folder, cipher: ProjectCipher) -> None:
    fresh = Folder.create(folder.project_id, "dev", "/replayed", "a", "r")
    fresh.set_secrets([("K", "one", "")], cipher, "a", "r")
    fresh.set_secrets([("K", "two", "c")], cipher, "a", "r")
    fresh.add_import("i1", "dev", "/shared", "a", "r")
    fresh.add_child("/replayed/x", "a", "r")
    fresh.delete_secret("K", "a", "r")
    copy = None
    for event in fresh.collect_events():
        copy = event.mutate(copy)
    assert copy is not None
    for name in ("secrets", "history", "imports", "children", "deleted", "version"):
        assert getattr(copy, name) == getattr(fresh, name), name


def test_deepcopy_does_not_share_containers(folder: Folder, cipher: ProjectCipher) -> None:
    import copy

    folder.set_secrets([("K", "one", "")], cipher, "a", "r")
    folder.add_import("i1", "dev", "/shared", "a", "r")
    clone = copy.deepcopy(folder)
    clone.set_secrets([("K", "two", "")], cipher, "a", "r")
    clone.add_import("i2", "dev", "/other", "a", "r")
    clone.add_child("/app/x", "a", "r")
    assert folder.secret("K")["version"] == 1
    assert "K" not in folder.history
    assert [i["id"] for i in folder.imports] == ["i1"]
    assert folder.children == []
    assert len(folder.collect_events()) == 2
