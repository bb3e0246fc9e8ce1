"""Use cases of the secret source: projects, environments, folders, secrets, imports."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application

from adapters.envelope import ProjectCipher, RootKey
from domain.errors import FailedPrecondition, FieldViolation, NotFound, require
from domain.folder import Folder, folder_id, parent_of
from domain.project import Project, ProjectRegistry
from domain.resolve import (
    Readable,
    Resolution,
    SourceFolder,
    Sources,
    check_reference_cycles,
    resolve,
)
from domain.rules import check_uuid, normalise_secret_path
from domain.source_rules import (
    MAX_BULK,
    check_comment,
    check_display_name,
    check_environment_slug,
    check_key,
    check_project_slug,
    check_value,
)
from service.app.call_context import CallContext
from service.app.retry import retried


@dataclass(frozen=True)
class FolderRef:
    """Where a sync reads from, as the secret source knows it."""

    folder_id: str
    environment_id: str
    environment_name: str


class SecretSources(Application[UUID]):
    name = "SecretSources"
    snapshotting_intervals = {Folder: 50, ProjectRegistry: 100}

    def __init__(
        self, env: Mapping[str, str] | None = None, *, root_key: RootKey | None = None
    ) -> None:
        """`root_key` wraps the projects' data keys (a reader of events alone needs none)."""
        super().__init__(env=env)
        self._root_key = root_key

    @property
    def root_key(self) -> RootKey:
        if self._root_key is None:
            raise RuntimeError("SecretSources was made without the root key")
        return self._root_key

    # --- projects and environments ----------------------------------------------

    @retried
    def create_project(self, name: str, slug: str, ctx: CallContext) -> Project:
        require(check_display_name(name) + check_project_slug(slug))
        registry = self._registry()
        project_id = uuid.uuid4()
        registry.register(slug, str(project_id))
        wrapped = self.root_key.new_wrapped_data_key(str(project_id))
        project = Project.create(project_id, name, slug, wrapped, ctx.actor, ctx.request_id)
        self.save(registry, project)
        return project

    @retried
    def rewrap_data_key(self, project_id: UUID, ctx: CallContext) -> bool:
        """Re-wrap the project's data key by the primary root key (a rotation); False if
        it already was. Values stay sealed by the same data key."""
        project = self.repository.get(project_id)
        assert isinstance(project, Project)
        if self.root_key.is_primary(project.wrapped_data_key):
            return False
        wrapped = self.root_key.rewrap_data_key(str(project.id), project.wrapped_data_key)
        project.rewrap_data_key(wrapped, ctx.actor, ctx.request_id)
        self.save(project)
        return True

    def data_key_is_primary(self, project_id: UUID) -> bool:
        project = self.repository.get(project_id)
        return self.root_key.is_primary(project.wrapped_data_key)  # type: ignore[attr-defined]

    def list_projects(
        self,
        after_slug: str = "",
        limit: int = 50,
        visible: Callable[[str], bool] = lambda project_id: True,
    ) -> list[Project]:
        """Projects by slug, after `after_slug`; only those `visible` (by id) counts."""
        projects = self._registry().projects
        slugs = sorted(s for s in projects if s > after_slug and visible(projects[s]))[:limit]
        return [self.project(projects[s]) for s in slugs]

    def project(self, project_id: str, field: str = "project_id") -> Project:
        require(check_uuid(field, project_id))
        try:
            project = self.repository.get(UUID(project_id))
        except AggregateNotFoundError:
            project = None
        if not isinstance(project, Project):
            raise NotFound(f"project {project_id} not found", "PROJECT_NOT_FOUND").about(
                resource_id=project_id, field=field
            )
        return project

    @retried
    def create_environment(
        self, project_id: str, slug: str, name: str, ctx: CallContext
    ) -> dict[str, str]:
        require(
            check_uuid("project_id", project_id)
            + check_environment_slug(slug, "slug")
            + check_display_name(name)
        )
        project = self.project(project_id)
        environment_id = project.add_environment(slug, name, ctx.actor, ctx.request_id)
        root = self._folder_or_none(project_id, slug, "/")
        if root is None:
            root = Folder.create(project_id, slug, "/", ctx.actor, ctx.request_id)
        self.save(project, root)
        return {"id": environment_id, "slug": slug, "name": name}

    # --- folders -------------------------------------------------------------------

    def folder(self, project_id: str, environment: str, path: str) -> Folder:
        """A live folder, or NOT_FOUND naming what is missing."""
        path = self._place(project_id, environment, path)
        self.project(project_id).environment(environment)
        folder = self._folder_or_none(project_id, environment, path)
        if folder is None or folder.deleted:
            raise NotFound(f"folder {environment}:{path} not found", "FOLDER_NOT_FOUND").about(
                resource_id=f"{environment}:{path}", field="path"
            )
        return folder

    @retried
    def create_folder(
        self, project_id: str, environment: str, path: str, ctx: CallContext
    ) -> Folder:
        path = self._place(project_id, environment, path)
        if path == "/":
            raise FailedPrecondition("the root folder always exists", "ROOT_FOLDER")
        try:
            parent = self.folder(project_id, environment, parent_of(path))
        except NotFound as missing:
            if missing.reason != "FOLDER_NOT_FOUND":
                raise
            raise FailedPrecondition(
                f"parent folder {environment}:{parent_of(path)} does not exist",
                "PARENT_FOLDER_MISSING",
            ) from None
        folder = self._folder_or_none(project_id, environment, path)
        parent.add_child(path, ctx.actor, ctx.request_id)
        if folder is None:
            folder = Folder.create(project_id, environment, path, ctx.actor, ctx.request_id)
        else:
            folder.revive(ctx.actor, ctx.request_id)
        self.save(parent, folder)
        return folder

    def list_folders(
        self, project_id: str, environment: str, path: str, after: str = "", limit: int = -1
    ) -> list[Folder]:
        """The direct sub-folders by path, after `after`, at most `limit` (-1: all)."""
        parent = self.folder(project_id, environment, path or "/")
        children = sorted(child for child in parent.children if child > after)
        return [
            self.folder(project_id, environment, child)
            for child in (children if limit < 0 else children[:limit])
        ]

    @retried
    def delete_folder(self, project_id: str, environment: str, path: str, ctx: CallContext) -> int:
        folder = self.folder(project_id, environment, path)
        parent = self.folder(project_id, environment, parent_of(folder.path))
        doomed, todo = [], [folder]
        while todo:
            current = todo.pop()
            current.delete(ctx.actor, ctx.request_id)
            doomed.append(current)
            todo += [self.folder(project_id, environment, c) for c in current.children]
        parent.remove_child(folder.path, ctx.actor, ctx.request_id)
        self.save(parent, *doomed)
        return len(doomed)

    # --- secrets ---------------------------------------------------------------------

    def cipher(self, project: Project) -> ProjectCipher:
        return self.root_key.cipher_for(str(project.id), project.wrapped_data_key)

    @retried
    def set_secrets(
        self,
        project_id: str,
        environment: str,
        path: str,
        entries: list[tuple[str, str, str]],
        ctx: CallContext,
        field: str = "secrets",
    ) -> tuple[dict[str, int], Folder]:
        self._place(project_id, environment, path, _check_entries(entries, field))
        folder = self.folder(project_id, environment, path)
        cipher = self.cipher(self.project(project_id))
        counts = folder.set_secrets(entries, cipher, ctx.actor, ctx.request_id)
        keys = [key for key, _, _ in entries]
        check_reference_cycles(folder.environment, folder.path, keys, self._loader(folder))
        self.save(folder)
        return counts, folder

    def get_secret(
        self, project_id: str, environment: str, path: str, key: str, version: int = 0
    ) -> tuple[dict[str, Any], str]:
        self._place(project_id, environment, path, check_key(key))
        folder = self.folder(project_id, environment, path)
        entry = folder.secret(key, version)
        return entry, folder.open_secret(key, self.cipher(self.project(project_id)), version)

    def list_secrets(
        self,
        project_id: str,
        environment: str,
        path: str,
        include_values: bool,
        after: str = "",
        limit: int = -1,
    ) -> list[tuple[dict[str, Any], str]]:
        """The folder's secrets by key, after `after`, at most `limit` (-1: all); only
        those listed are decrypted."""
        folder = self.folder(project_id, environment, path)
        cipher = self.cipher(self.project(project_id)) if include_values else None
        keys = sorted(key for key in folder.secrets if key > after)
        return [
            (folder.secrets[key], folder.open_secret(key, cipher) if cipher else "")
            for key in (keys if limit < 0 else keys[:limit])
        ]

    @retried
    def delete_secret(
        self, project_id: str, environment: str, path: str, key: str, ctx: CallContext
    ) -> int:
        self._place(project_id, environment, path, check_key(key))
        folder = self.folder(project_id, environment, path)
        version = folder.delete_secret(key, ctx.actor, ctx.request_id)
        self.save(folder)
        return version

    # --- imports ---------------------------------------------------------------------

    @retried
    def create_import(
        self,
        project_id: str,
        environment: str,
        path: str,
        source_environment: str,
        source_path: str,
        ctx: CallContext,
    ) -> dict[str, str]:
        source_path, violations = normalise_secret_path(source_path, "secret_import.path")
        violations += check_environment_slug(source_environment, "secret_import.environment")
        self._place(project_id, environment, path, violations)
        folder = self.folder(project_id, environment, path)
        try:
            self.folder(project_id, source_environment, source_path)
        except NotFound as missing:
            raise FailedPrecondition(
                f"cannot import {source_environment}:{source_path}: {missing}", missing.reason
            ) from None
        import_id = str(uuid.uuid4())
        folder.add_import(import_id, source_environment, source_path, ctx.actor, ctx.request_id)
        load = self._loader(folder)
        Sources(load).origins((folder.environment, folder.path))  # an import cycle?
        # A reference of this folder may now resolve through the import, into a cycle.
        check_reference_cycles(folder.environment, folder.path, list(folder.secrets), load)
        self.save(folder)
        return folder.imports[-1]

    @retried
    def delete_import(
        self, project_id: str, environment: str, path: str, import_id: str, ctx: CallContext
    ) -> None:
        self._place(project_id, environment, path, check_uuid("import_id", import_id))
        folder = self.folder(project_id, environment, path)
        folder.remove_import(import_id, ctx.actor, ctx.request_id)
        self.save(folder)

    # --- what syncs read --------------------------------------------------------------

    def resolve(
        self,
        project_id: str,
        environment: str,
        path: str,
        read: set[tuple[str, str]] | None = None,
        readable: Readable | None = None,
    ) -> Resolution:
        """The folder's key -> value map; `read` collects every folder it read; keys from
        folders not `readable` (a sync owner's reach) are problems, never values."""
        folder = self.folder(project_id, environment, path)
        load = self._loader(folder)
        if read is not None:
            inner = load

            def load(environment: str, path: str) -> SourceFolder | None:
                found = inner(environment, path)
                if found is not None:
                    read.add((environment, path))
                return found

        return resolve(folder.environment, folder.path, load, readable)

    def locate(self, project_id: str, environment: str, path: str) -> FolderRef:
        """The folder a sync reads; FAILED_PRECONDITION if it does not exist."""
        project = self.project(project_id)
        if environment not in project.environments:
            raise FailedPrecondition(
                f"environment {environment!r} does not exist in project {project_id}",
                "ENVIRONMENT_NOT_FOUND",
            )
        folder = self._folder_or_none(project_id, environment, path)
        if folder is None or folder.deleted:
            raise FailedPrecondition(
                f"folder {environment}:{path} does not exist in project {project_id}",
                "FOLDER_NOT_FOUND",
            )
        env = project.environments[environment]
        return FolderRef(str(folder.id), env["id"], env["name"])

    def folders_loader(self, project_id: str) -> Callable[[str, str], SourceFolder | None]:
        return self._loader(None, project_id)

    # --- helpers -----------------------------------------------------------------------

    def _registry(self) -> ProjectRegistry:
        try:
            registry = self.repository.get(ProjectRegistry.ID)
        except AggregateNotFoundError:
            return ProjectRegistry()
        assert isinstance(registry, ProjectRegistry)
        return registry

    def _place(
        self,
        project_id: str,
        environment: str,
        path: str,
        more: list[FieldViolation] | None = None,
    ) -> str:
        """Check where a request points, together with its other fields (`more`)."""
        path, violations = normalise_secret_path(path, "path")
        require(
            check_uuid("project_id", project_id)
            + check_environment_slug(environment)
            + violations
            + (more or [])
        )
        return path

    def _folder_or_none(self, project_id: str, environment: str, path: str) -> Folder | None:
        try:
            folder = self.repository.get(folder_id(project_id, environment, path))
        except AggregateNotFoundError:
            return None
        assert isinstance(folder, Folder)
        return folder

    def _loader(
        self, pending: Folder | None, project_id: str = ""
    ) -> Callable[[str, str], SourceFolder | None]:
        """Load folders for resolution; `pending` is used as it is in memory."""
        project_id = pending.project_id if pending else project_id
        cipher: list[ProjectCipher] = []

        def load(environment: str, path: str) -> SourceFolder | None:
            if pending and (pending.environment, pending.path) == (environment, path):
                folder: Folder | None = pending
            else:
                folder = self._folder_or_none(project_id, environment, path)
            if folder is None or folder.deleted:
                return None

            def value(key: str, folder: Folder = folder) -> str:
                if not cipher:
                    cipher.append(self.cipher(self.project(project_id)))
                return folder.open_secret(key, cipher[0])

            return SourceFolder(
                refs={k: [tuple(r) for r in v["refs"]] for k, v in folder.secrets.items()},
                imports=[(i["environment"], i["path"]) for i in folder.imports],
                value=value,
            )

        return load


def _check_entries(entries: list[tuple[str, str, str]], field: str) -> list[FieldViolation]:
    violations: list[FieldViolation] = []
    if not entries:
        violations.append(FieldViolation(field, "must hold at least one secret"))
    if len(entries) > MAX_BULK:
        violations.append(FieldViolation(field, f"must hold at most {MAX_BULK} secrets"))
    seen: set[str] = set()
    for index, (key, value, comment) in enumerate(entries):
        prefix = f"{field}[{index}]." if field == "secrets" else f"{field}."
        violations += check_key(key, f"{prefix}key")
        violations += check_value(value, f"{prefix}value")
        violations += check_comment(comment, f"{prefix}comment")
        if key in seen:
            violations.append(FieldViolation(f"{prefix}key", f"repeats the key {key!r}"))
        seen.add(key)
        if len(violations) > 50:  # enough to act on; do not echo 10,000 problems
            break
    return violations
