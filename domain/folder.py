"""A folder (secret path) of one environment: its secrets, imports and sub-folders.

Values are held only as ciphertext sealed with the project's data key; the
fingerprint (a keyed digest) lets "nothing changed" be seen without decrypting.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.crypto import SecretCipher, secret_aad
from domain.errors import AlreadyExists, FailedPrecondition, NotFound
from domain.references import references_in


def folder_id(project_id: str, environment: str, path: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"hanzo-kms:folder:{project_id}:{environment}:{path}")


def parent_of(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


class Folder(Aggregate):
    class Event(Aggregate.Event):
        actor: str
        request_id: str

    class Created(Event, Aggregate.Created):
        project_id: str
        environment: str
        path: str

    def __init__(self, project_id: str, environment: str, path: str) -> None:
        self.project_id = project_id
        self.environment = environment
        self.path = path
        self.secrets: dict[str, dict[str, Any]] = {}
        self.history: dict[str, list[dict[str, Any]]] = {}  # older versions, oldest first
        self.imports: list[dict[str, str]] = []  # {id, environment, path}
        self.children: list[str] = []
        self.deleted = False

    @staticmethod
    def create_id(project_id: str, environment: str, path: str) -> UUID:
        return folder_id(project_id, environment, path)

    def __deepcopy__(self, memo: dict[int, Any]) -> Folder:
        """Copy the containers, share the entries.

        The repository copies cached aggregates on every read; a folder can hold
        10,000 secrets. Events replace entries and never change one in place,
        so sharing them is safe and makes a copy about a hundred times cheaper.
        """
        copy = object.__new__(Folder)
        copy.__dict__.update(self.__dict__)
        copy.secrets = dict(self.secrets)
        copy.history = {key: list(versions) for key, versions in self.history.items()}
        copy.imports = list(self.imports)
        copy.children = list(self.children)
        copy.__dict__["_pending_events"] = list(self.__dict__.get("_pending_events", []))
        return copy

    @classmethod
    def create(
        cls, project_id: str, environment: str, path: str, actor: str, request_id: str
    ) -> Folder:
        return cls._create(
            cls.Created,
            project_id=project_id,
            environment=environment,
            path=path,
            actor=actor,
            request_id=request_id,
        )

    def describe(self) -> str:
        return f"{self.environment}:{self.path}"

    def ensure_live(self) -> None:
        if self.deleted:
            raise NotFound(f"folder {self.describe()} not found", "FOLDER_NOT_FOUND")

    # --- secrets ---------------------------------------------------------------

    class SecretsSet(Event):
        items: list[dict[str, Any]]  # key, version, ciphertext, fingerprint, comment, refs

        def apply(self, folder: Folder) -> None:
            for item in self.items:
                previous = folder.secrets.get(item["key"])
                if previous is not None:
                    folder.history.setdefault(item["key"], []).append(previous)
                folder.secrets[item["key"]] = {
                    **item,
                    "updated_at": self.timestamp.isoformat(),
                }

    def last_version(self, key: str) -> int:
        if key in self.secrets:
            return int(self.secrets[key]["version"])
        older = self.history.get(key)
        return int(older[-1]["version"]) if older else 0

    def set_secrets(
        self,
        entries: list[tuple[str, str, str]],
        cipher: SecretCipher,
        actor: str,
        request_id: str,
    ) -> dict[str, int]:
        """Write (key, value, comment) entries; returns created/updated/unchanged counts."""
        self.ensure_live()
        counts = {"created": 0, "updated": 0, "unchanged": 0}
        items = []
        for key, value, comment in entries:
            fingerprint = cipher.fingerprint(value)
            current = self.secrets.get(key)
            if current and current["fingerprint"] == fingerprint and current["comment"] == comment:
                counts["unchanged"] += 1
                continue
            counts["updated" if current else "created"] += 1
            version = self.last_version(key) + 1
            aad = secret_aad(self.project_id, self.environment, self.path, key, version)
            items.append(
                {
                    "key": key,
                    "version": version,
                    "ciphertext": cipher.seal(value, aad),
                    "fingerprint": fingerprint,
                    "comment": comment,
                    "refs": [self._absolute(r) for r in references_in(value)],
                }
            )
        if items:
            self.trigger_event(self.SecretsSet, items=items, actor=actor, request_id=request_id)
        return counts

    def _absolute(self, reference: Any) -> list[str]:
        if reference.is_local:
            return [self.environment, self.path, reference.key]
        return [reference.environment, reference.path, reference.key]

    class SecretDeleted(Event):
        key: str

        def apply(self, folder: Folder) -> None:
            folder.history.setdefault(self.key, []).append(folder.secrets.pop(self.key))

    def delete_secret(self, key: str, actor: str, request_id: str) -> int:
        self.ensure_live()
        version = self.secret(key)["version"]
        self.trigger_event(self.SecretDeleted, key=key, actor=actor, request_id=request_id)
        return int(version)

    def secret(self, key: str, version: int = 0) -> dict[str, Any]:
        """The latest version of a secret, or the given one."""
        current = self.secrets.get(key)
        if not version and current:
            return current
        for candidate in [*self.history.get(key, []), *([current] if current else [])]:
            if candidate["version"] == version:
                return candidate
        what = f"secret {key!r}" + (f" version {version}" if version else "")
        raise NotFound(f"{what} not found in folder {self.describe()}", "SECRET_NOT_FOUND").about(
            resource_id=key, field="key"
        )

    def open_secret(self, key: str, cipher: SecretCipher, version: int = 0) -> str:
        entry = self.secret(key, version)
        aad = secret_aad(self.project_id, self.environment, self.path, key, entry["version"])
        return cipher.open(entry["ciphertext"], aad)

    def referenced_folders(self) -> set[tuple[str, str]]:
        """Other folders whose secrets this folder's values reference."""
        own = (self.environment, self.path)
        return {
            (env, path)
            for entry in self.secrets.values()
            for env, path, _ in entry["refs"]
            if (env, path) != own
        }

    # --- imports -------------------------------------------------------------

    class ImportAdded(Event):
        import_id: str
        source_environment: str
        source_path: str

        def apply(self, folder: Folder) -> None:
            folder.imports.append(
                {
                    "id": self.import_id,
                    "environment": self.source_environment,
                    "path": self.source_path,
                }
            )

    def add_import(
        self, import_id: str, environment: str, path: str, actor: str, request_id: str
    ) -> None:
        self.ensure_live()
        if (environment, path) == (self.environment, self.path):
            raise FailedPrecondition(
                f"folder {self.describe()} cannot import itself", "IMPORT_CYCLE"
            )
        if any((i["environment"], i["path"]) == (environment, path) for i in self.imports):
            raise AlreadyExists(
                f"folder {self.describe()} already imports {environment}:{path}", "IMPORT_EXISTS"
            )
        self.trigger_event(
            self.ImportAdded,
            import_id=import_id,
            source_environment=environment,
            source_path=path,
            actor=actor,
            request_id=request_id,
        )

    class ImportRemoved(Event):
        import_id: str

        def apply(self, folder: Folder) -> None:
            folder.imports = [i for i in folder.imports if i["id"] != self.import_id]

    def remove_import(self, import_id: str, actor: str, request_id: str) -> None:
        self.ensure_live()
        if not any(i["id"] == import_id for i in self.imports):
            raise NotFound(
                f"import {import_id} not found in folder {self.describe()}", "IMPORT_NOT_FOUND"
            ).about(resource_id=import_id, field="import_id")
        self.trigger_event(
            self.ImportRemoved, import_id=import_id, actor=actor, request_id=request_id
        )

    # --- the tree ------------------------------------------------------------

    class ChildAdded(Event):
        child_path: str

        def apply(self, folder: Folder) -> None:
            folder.children = sorted({*folder.children, self.child_path})

    class ChildRemoved(Event):
        child_path: str

        def apply(self, folder: Folder) -> None:
            folder.children = [c for c in folder.children if c != self.child_path]

    def add_child(self, path: str, actor: str, request_id: str) -> None:
        self.ensure_live()
        if path in self.children:
            raise AlreadyExists(f"folder {self.environment}:{path} already exists", "FOLDER_EXISTS")
        self.trigger_event(self.ChildAdded, child_path=path, actor=actor, request_id=request_id)

    def remove_child(self, path: str, actor: str, request_id: str) -> None:
        if path in self.children:
            self.trigger_event(
                self.ChildRemoved, child_path=path, actor=actor, request_id=request_id
            )

    class Deleted(Event):
        def apply(self, folder: Folder) -> None:
            folder.deleted = True

    class Revived(Event):
        """A deleted folder created again: empty, but version numbers carry on."""

        def apply(self, folder: Folder) -> None:
            for key in list(folder.secrets):
                folder.history.setdefault(key, []).append(folder.secrets.pop(key))
            folder.imports, folder.children, folder.deleted = [], [], False

    def revive(self, actor: str, request_id: str) -> None:
        if not self.deleted:
            raise AlreadyExists(f"folder {self.describe()} already exists", "FOLDER_EXISTS")
        self.trigger_event(self.Revived, actor=actor, request_id=request_id)

    def delete(self, actor: str, request_id: str) -> None:
        self.ensure_live()
        if self.path == "/":
            raise FailedPrecondition("the root folder cannot be deleted", "ROOT_FOLDER")
        self.trigger_event(self.Deleted, actor=actor, request_id=request_id)
