"""Who may do what: principals, their grants, and the one check every call goes through.

A grant names a project (its id, or "*" for every project), the actions it allows, and
optionally the environments and secret paths it is narrowed to (globs). A principal
holds grants; it may do an action at a place when one of its grants allows both.

Actions are the product's words: read, create, edit, delete, sync-secrets,
import-secrets, remove-secrets, read-audit, manage-connections, and admin (every
action; with project "*" also the service-wide ones: tokens and creating projects).

Globs: environments match with `*` and `?` (fnmatch). Paths match segment-wise: `*`
is one folder name (or part of one), `**` any number of folders, so "/app/**" is
/app and everything below it, "/app/*" its direct sub-folders, "/app" only itself.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from domain.errors import FieldViolation

READ, CREATE, EDIT, DELETE = "read", "create", "edit", "delete"
SYNC_SECRETS, IMPORT_SECRETS, REMOVE_SECRETS = "sync-secrets", "import-secrets", "remove-secrets"
READ_AUDIT, MANAGE_CONNECTIONS, ADMIN = "read-audit", "manage-connections", "admin"
ACTIONS = (
    READ,
    CREATE,
    EDIT,
    DELETE,
    SYNC_SECRETS,
    IMPORT_SECRETS,
    REMOVE_SECRETS,
    READ_AUDIT,
    MANAGE_CONNECTIONS,
    ADMIN,
)
EVERY_PROJECT = "*"
MAX_GRANTS = 100
MAX_PATTERNS = 50
MAX_PATTERN = 512
PROJECT_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Actors the service records itself: no credential may pose as one of them.
BOOTSTRAP_ACTOR = "bootstrap"  # `token create --bootstrap`, writing to the store itself
RESERVED_ACTORS = ("anonymous", "worker", "auto-sync", BOOTSTRAP_ACTOR)
RESERVED_PREFIXES = ("secret-sync:",)
# The bootstrap admin's principal (`token create --bootstrap`): no token made over the
# API and no JWT may act as it, so the audit tells the bootstrap admin apart.
BOOTSTRAP_PRINCIPAL = "admin"
PRINCIPAL_RE = re.compile(r"^[A-Za-z0-9._@:+/=-]{1,256}$")


@dataclass(frozen=True)
class Grant:
    """Actions on one project (or every project), narrowed to environments and paths."""

    project: str  # a project id (lowercase) or "*"
    actions: frozenset[str]
    environments: tuple[str, ...] = ()  # globs of environment slugs; empty: every one
    paths: tuple[str, ...] = ()  # globs of secret paths; empty: every one

    def covers_project(self, project_id: str) -> bool:
        return self.project in (EVERY_PROJECT, project_id.lower())

    def allows(self, action: str) -> bool:
        return ADMIN in self.actions or action in self.actions

    def covers_place(self, environment: str | None, path: str | None) -> bool:
        """None means "not about a place" (a project-level resource): always covered."""
        if (
            environment is not None
            and self.environments
            and not any(fnmatch.fnmatchcase(environment, p) for p in self.environments)
        ):
            return False
        if path is not None and self.paths:
            return any(path_matches(pattern, path) for pattern in self.paths)
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "actions": sorted(self.actions),
            "environments": list(self.environments),
            "paths": list(self.paths),
        }


@dataclass(frozen=True)
class Principal:
    """Who is calling: the name recorded as the actor of what it does, and its grants."""

    name: str
    grants: tuple[Grant, ...] = field(default_factory=tuple)

    def sees(self, project_id: str) -> bool:
        """Whether it holds any grant on the project (else the project is not there for it)."""
        return any(g.covers_project(project_id) for g in self.grants)

    def may(
        self,
        action: str,
        project_id: str,
        environment: str | None = None,
        path: str | None = None,
    ) -> bool:
        return any(
            g.covers_project(project_id) and g.allows(action) and g.covers_place(environment, path)
            for g in self.grants
        )

    def may_somewhere(self, action: str, project_id: str) -> bool:
        """The action in some environment / path of the project (lists, then filtered)."""
        return any(g.covers_project(project_id) and g.allows(action) for g in self.grants)

    @property
    def is_admin(self) -> bool:
        """Admin of the service: tokens, creating projects, every project's audit."""
        return any(g.project == EVERY_PROJECT and ADMIN in g.actions for g in self.grants)


@functools.lru_cache(maxsize=1024)
def _path_regex(pattern: str) -> re.Pattern[str]:
    if pattern.endswith("/**"):
        return re.compile(_translate(pattern[:-3] or "") + r"(?:/.*)?")
    return re.compile(_translate(pattern))


def _translate(pattern: str) -> str:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def path_matches(pattern: str, path: str) -> bool:
    """Whether a normalised secret path matches a path glob ("/" matches only "/";
    "/**" matches every path)."""
    return _path_regex(pattern).fullmatch(path) is not None


# --- grants from requests, tokens and JWT claims ------------------------------------


def parse_grants(
    raw: Any, field_name: str = "grants"
) -> tuple[tuple[Grant, ...], list[FieldViolation]]:
    """Grants from plain data: a list of {project, actions, environments, paths}."""
    if not isinstance(raw, list):
        return (), [FieldViolation(field_name, "must be a list of grants")]
    if len(raw) > MAX_GRANTS:
        return (), [FieldViolation(field_name, f"must hold at most {MAX_GRANTS} grants")]
    grants: list[Grant] = []
    violations: list[FieldViolation] = []
    for index, item in enumerate(raw):
        grant, found = parse_grant(item, f"{field_name}[{index}]")
        violations += found
        if grant is not None:
            grants.append(grant)
    return tuple(grants), violations


def parse_grant(item: Any, prefix: str) -> tuple[Grant | None, list[FieldViolation]]:
    if not isinstance(item, Mapping):
        return None, [FieldViolation(prefix, "must be an object")]
    violations: list[FieldViolation] = []
    project = item.get("project", item.get("project_id", ""))
    if not isinstance(project, str) or not (
        project == EVERY_PROJECT or PROJECT_RE.fullmatch(project.lower())
    ):
        violations.append(FieldViolation(f"{prefix}.project_id", "must be a project id or '*'"))
        project = ""
    actions = _strings(item.get("actions"), f"{prefix}.actions", violations)
    if not actions:
        violations.append(FieldViolation(f"{prefix}.actions", "must name at least one action"))
    for action in actions:
        if action not in ACTIONS:
            violations.append(
                FieldViolation(f"{prefix}.actions", f"{action[:64]!r} is not an action")
            )
    environments = _strings(item.get("environments"), f"{prefix}.environments", violations)
    paths = _strings(item.get("paths"), f"{prefix}.paths", violations)
    for pattern in paths:
        if not pattern.startswith("/"):
            violations.append(FieldViolation(f"{prefix}.paths", "globs must start with '/'"))
            break
    if violations:
        return None, violations
    grant = Grant(project.lower(), frozenset(actions), tuple(environments), tuple(paths))
    return grant, []


def _strings(value: Any, where: str, violations: list[FieldViolation]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        violations.append(FieldViolation(where, "must be a list of strings"))
        return []
    if len(value) > MAX_PATTERNS or any(not v or len(v) > MAX_PATTERN for v in value):
        violations.append(
            FieldViolation(where, f"at most {MAX_PATTERNS} non-empty entries of {MAX_PATTERN}")
        )
        return []
    return list(value)


def check_principal(
    name: str, field_name: str = "principal", *, bootstrap: bool = False
) -> list[FieldViolation]:
    """A name a credential may act as: not one the service records for itself, nor the
    bootstrap admin's (unless this is the bootstrap)."""
    if not PRINCIPAL_RE.fullmatch(name):
        return [
            FieldViolation(
                field_name, "must be 1-256 letters, digits or . _ @ : + / = - (no spaces)"
            )
        ]
    if name in RESERVED_ACTORS or name.startswith(RESERVED_PREFIXES):
        return [FieldViolation(field_name, f"{name!r} is reserved for the service itself")]
    if name.lower() == BOOTSTRAP_PRINCIPAL and not bootstrap:
        return [
            FieldViolation(
                field_name,
                f"{name!r} is reserved for the bootstrap admin (token create --bootstrap)",
            )
        ]
    return []


def grants_as_dicts(grants: Iterable[Grant]) -> list[dict[str, Any]]:
    return [g.to_dict() for g in grants]
