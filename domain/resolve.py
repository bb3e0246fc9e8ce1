"""What a folder resolves to: imports merged, references expanded. Pure.

- A folder's own keys win over imported ones; among imports, the earlier wins;
  imports apply transitively.
- ${KEY} names a key as the secret's own folder resolves it; ${env.a.b.KEY} a key
  of folder /a/b in environment env. References expand recursively, at most
  MAX_DEPTH deep; a cycle or a missing key is a problem of that key only, so
  one bad key never blocks the others.
- With `readable` (what the sync's owner may read, domain/sync_owner.py), a key that
  comes from, or references, a folder it may not read is a problem too
  (OWNER_CANNOT_READ): its value is never expanded, so it can never be pushed.
- A value that resolves to more than Key Vault's 25 KB (UTF-8 bytes) is a problem
  of its key too: no sync could push it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from domain.errors import FailedPrecondition
from domain.plan import too_large, too_large_reason
from domain.references import MAX_DEPTH, REFERENCE_RE, parse

Place = tuple[str, str]  # (environment, path)
Node = tuple[str, str, str]  # (environment, path, key)


@dataclass(frozen=True)
class SourceFolder:
    refs: dict[str, list[Node]]  # own key -> the absolute references in its value
    imports: list[Place]
    value: Callable[[str], str]  # decrypts one own key's value


Loader = Callable[[str, str], SourceFolder | None]
Readable = Callable[[str, str], bool]  # (environment, path) -> may be read
OWNER_CANNOT_READ = "OWNER_CANNOT_READ"


@dataclass
class Resolution:
    values: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # key -> why; never a value


class ReferenceProblem(Exception):
    def __init__(self, message: str, reason: str) -> None:
        self.reason = reason
        super().__init__(message)


class Sources:
    """Loads each folder once and remembers where each merged key comes from.

    `strict` refuses an import cycle (for checking a write); otherwise the import
    that would close a cycle is skipped, so resolution still gives an answer.
    """

    def __init__(self, load: Loader, *, strict: bool = True) -> None:
        self._load = load
        self._strict = strict
        self._folders: dict[Place, SourceFolder | None] = {}
        self._origins: dict[Place, dict[str, Place]] = {}

    def folder(self, place: Place) -> SourceFolder | None:
        if place not in self._folders:
            self._folders[place] = self._load(*place)
        return self._folders[place]

    def origins(self, place: Place, chain: tuple[Place, ...] = ()) -> dict[str, Place]:
        """Merged key -> the folder it comes from."""
        if place in self._origins:
            return self._origins[place]
        if place in chain:
            if not self._strict:
                return {}
            raise FailedPrecondition(
                "import cycle: " + " -> ".join(f"{e}:{p}" for e, p in (*chain, place)),
                "IMPORT_CYCLE",
            )
        folder = self.folder(place)
        merged: dict[str, Place] = {}
        if folder is not None:
            for imported in folder.imports:
                for key, origin in self.origins(imported, (*chain, place)).items():
                    merged.setdefault(key, origin)
            merged.update(dict.fromkeys(folder.refs, place))
        self._origins[place] = merged
        return merged

    def target(self, place: Place, key: str) -> Node | None:
        origin = self.origins(place).get(key)
        return None if origin is None else (*origin, key)


def resolve(
    environment: str, path: str, load: Loader, readable: Readable | None = None
) -> Resolution:
    sources = Sources(load, strict=False)
    resolution = Resolution()
    for key, origin in sorted(sources.origins((environment, path)).items()):
        try:
            value = _expand((*origin, key), sources, (), readable)
        except ReferenceProblem as problem:
            resolution.problems[key] = str(problem)
            continue
        if too_large(value):
            resolution.problems[key] = too_large_reason(value)
        else:
            resolution.values[key] = value
    return resolution


def _expand(
    node: Node, sources: Sources, stack: tuple[Node, ...], readable: Readable | None = None
) -> str:
    if readable is not None and not readable(node[0], node[1]):
        raise ReferenceProblem(_unreadable(node, stack), OWNER_CANNOT_READ)
    if node in stack:
        raise ReferenceProblem("reference cycle: " + _chain((*stack, node)), "REFERENCE_CYCLE")
    if len(stack) > MAX_DEPTH:
        raise ReferenceProblem(
            f"references nest deeper than {MAX_DEPTH}: " + _chain((*stack, node)),
            "REFERENCE_TOO_DEEP",
        )
    environment, path, key = node
    folder = sources.folder((environment, path))
    assert folder is not None
    raw = folder.value(key)

    def substitute(match: re.Match[str]) -> str:
        reference = parse(match.group(1))
        if reference is None:
            return match.group(0)
        place = (environment, path) if reference.is_local else (reference.environment,
                                                                 reference.path)
        target = sources.target(place, reference.key)
        if target is None:
            raise ReferenceProblem(
                f"{_node(node)} references {place[0]}:{place[1]}:{reference.key}, "
                "which does not exist",
                "REFERENCE_MISSING",
            )
        return _expand(target, sources, (*stack, node), readable)

    return REFERENCE_RE.sub(substitute, raw)


def check_reference_cycles(environment: str, path: str, keys: list[str], load: Loader) -> None:
    """Refuse a write whose references would loop or nest too deep (metadata only)."""
    sources = Sources(load)

    def walk(node: Node, stack: tuple[Node, ...]) -> None:
        if node in stack:
            raise FailedPrecondition(
                "reference cycle: " + _chain((*stack, node)), "REFERENCE_CYCLE"
            )
        if len(stack) > MAX_DEPTH:
            raise FailedPrecondition(
                f"references nest deeper than {MAX_DEPTH}: " + _chain((*stack, node)),
                "REFERENCE_TOO_DEEP",
            )
        folder = sources.folder(node[:2])
        for ref_env, ref_path, ref_key in folder.refs.get(node[2], []) if folder else []:
            target = sources.target((ref_env, ref_path), ref_key)
            if target is not None:
                walk(target, (*stack, node))

    for key in keys:
        walk((environment, path, key), ())


def folders_read_by(environment: str, path: str, load: Loader) -> set[Place]:
    """Every folder whose change can change what this folder resolves to."""
    sources = Sources(load)
    seen: set[Place] = set()
    todo: list[Place] = [(environment, path)]
    while todo:
        place = todo.pop()
        if place in seen:
            continue
        seen.add(place)
        folder = sources.folder(place)
        if folder is None:
            continue
        todo += folder.imports
        todo += [(env, p) for refs in folder.refs.values() for env, p, _ in refs]
    return seen


def _unreadable(node: Node, stack: tuple[Node, ...]) -> str:
    """Names the folder, never a value; a reference chain shows how it was reached."""
    where = f"{node[0]}:{node[1]}"
    if not stack:
        return f"comes from {where}, which the sync's owner may not read"
    return f"{_chain((*stack, node))}: {where} is a folder the sync's owner may not read"


def _node(node: Node) -> str:
    return f"{node[0]}:{node[1]}:{node[2]}"


def _chain(nodes: tuple[Node, ...]) -> str:
    return " -> ".join(_node(n) for n in nodes)
