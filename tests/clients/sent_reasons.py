"""Every ErrorInfo.reason the service can send, found by reading its source.

All errors reach the wire through `to_status(error)`, which sends `error.reason`; a
reason is therefore fixed where an error class is defined (a `reason = "..."` class
attribute, a default argument, a `super().__init__(message, "...")`) or where an error
is made (`NotFound(message, "FOLDER_NOT_FOUND")`, `reason=...`, or a module constant
such as TOKEN_EXPIRED). A reason argument the scan cannot resolve to a string is
reported, so a new way of passing one cannot slip past the check; passing on the
reason of an error already caught (`missing.reason`) sends one found elsewhere.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "service", "adapters")
BASE = "SecretSyncError"


@dataclass
class Scan:
    reasons: dict[str, list[str]] = field(default_factory=dict)  # reason -> where
    unresolved: list[str] = field(default_factory=list)

    def add(self, reason: str, where: str) -> None:
        self.reasons.setdefault(reason, []).append(where)


def _modules() -> dict[str, tuple[Path, ast.Module]]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = (path, ast.parse(path.read_text()))
    return found


def _error_classes(modules: dict[str, tuple[Path, ast.Module]]) -> dict[str, ast.ClassDef]:
    """Every subclass of SecretSyncError (by name, transitively), with the base itself."""
    classes = {
        node.name: node
        for _, tree in modules.values()
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
    }
    errors = {BASE}
    grew = True
    while grew:
        grew = False
        for name, node in classes.items():
            bases = {getattr(b, "id", "") or getattr(b, "attr", "") for b in node.bases}
            if name not in errors and bases & errors:
                errors.add(name)
                grew = True
    return {name: classes[name] for name in errors}


def _constants(tree: ast.Module) -> dict[str, str]:
    return {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def _imported(tree: ast.Module) -> dict[str, tuple[str, str]]:
    return {
        (alias.asname or alias.name): (node.module, alias.name)
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }


def scan() -> Scan:
    modules = _modules()
    errors = _error_classes(modules)
    result = Scan()

    def resolve(value: ast.expr, module: str, where: str) -> None:
        tree = modules[module][1]
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            result.add(value.value, where)
            return
        if isinstance(value, ast.Attribute) and value.attr == "reason":
            return  # an error caught and passed on: its reason is found where it was made
        if isinstance(value, ast.Name):
            if value.id in _constants(tree):
                result.add(_constants(tree)[value.id], where)
                return
            origin = _imported(tree).get(value.id)
            if origin and origin[0] in modules:
                constants = _constants(modules[origin[0]][1])
                if origin[1] in constants:
                    result.add(constants[origin[1]], where)
                    return
        result.unresolved.append(f"{where}: {ast.unparse(value)}")

    for module, (path, tree) in modules.items():
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.ClassDef) and node.name in errors:
                for item in node.body:
                    if isinstance(item, ast.Assign) and any(
                        isinstance(t, ast.Name) and t.id == "reason" for t in item.targets
                    ):
                        resolve(item.value, module, where)
                    if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                        _init(item, module, path, resolve)
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if name not in errors:
                    continue
                reason = next((k.value for k in node.keywords if k.arg == "reason"), None)
                if reason is None and len(node.args) > 1:
                    reason = node.args[1]
                if reason is not None:
                    resolve(reason, module, where)
    return result


def _init(init: ast.FunctionDef, module: str, path: Path, resolve) -> None:
    """Defaults of a `reason` parameter and reasons handed to super().__init__."""
    defaults = init.args.defaults
    named = init.args.args[len(init.args.args) - len(defaults) :]
    for arg, default in zip(named, defaults, strict=True):
        if arg.arg == "reason":
            resolve(default, module, f"{path.relative_to(ROOT)}:{default.lineno}")
    for node in ast.walk(init):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "__init__"
            and len(node.args) > 1
        ):
            resolve(node.args[1], module, f"{path.relative_to(ROOT)}:{node.lineno}")
