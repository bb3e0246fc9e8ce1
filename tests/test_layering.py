"""The layers import inwards only: domain/ is pure, adapters/ never reaches into service/.

Imports are read with the ast module (nothing is imported), so a violation is caught
even in code no test runs, including imports under `if TYPE_CHECKING:` or inside functions.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Top-level packages the pure domain must never import.
DOMAIN_FORBIDDEN = ("service", "adapters", "grpc", "azure", "psycopg", "google", "hanzo")
# What domain/ may import besides the standard library and itself.
DOMAIN_ALLOWED_THIRD_PARTY = ("eventsourcing.domain", "eventsourcing.utils")
ADAPTERS_FORBIDDEN = ("service",)


def imported_modules(source: str, module: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `source`.

    `module` is the dotted name of the file ("domain.rules"), used to resolve relative
    imports. `from x import y` yields both "x" and "x.y" (y may be a submodule).
    Calls of importlib.import_module / __import__ with a literal name count too.
    """
    package = module.rsplit(".", 1)[0] if "." in module else ""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            if base:
                found.append((node.lineno, base))
            found += [
                (node.lineno, f"{base}.{alias.name}" if base else alias.name)
                for alias in node.names
            ]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if (
                name in ("import_module", "__import__")
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                found.append((node.lineno, first.value))
    return found


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def forbidden_imports(
    source: str, module: str, forbidden: tuple[str, ...], where: str
) -> list[str]:
    """'file:line imports x' for each import of a forbidden package."""
    offenders = {
        (line, name.split(".")[0])
        for line, name in imported_modules(source, module)
        if within(name, forbidden)
    }
    return [f"{where}:{line} imports {name}" for line, name in sorted(offenders)]


def non_pure_imports(source: str, module: str, where: str) -> list[str]:
    """Imports that are neither stdlib, domain itself, nor the allowed eventsourcing parts."""
    offenders = set()
    for line, name in imported_modules(source, module):
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top in ("domain", "__future__"):
            continue
        if top == "eventsourcing" and (
            name == "eventsourcing" or within(name, DOMAIN_ALLOWED_THIRD_PARTY)
        ):
            continue
        offenders.add((line, name))
    # "from x import y" yields x and x.y: name only x.
    reported = sorted(
        (line, name)
        for line, name in offenders
        if not any(line == l2 and name.startswith(n2 + ".") for l2, n2 in offenders)
    )
    return [f"{where}:{line} imports {name}" for line, name in reported]


def python_files(package: str) -> list[tuple[Path, str]]:
    """(path, dotted module name) of every .py under ROOT/package."""
    files = []
    for path in sorted((ROOT / package).rglob("*.py")):
        # A package's __init__ keeps its name, so that its package resolves to itself.
        parts = path.relative_to(ROOT).with_suffix("").parts
        files.append((path, ".".join(parts)))
    return files


def scan(package: str, check: object) -> list[str]:
    offenders: list[str] = []
    for path, module in python_files(package):
        where = str(path.relative_to(ROOT))
        offenders += check(path.read_text(encoding="utf-8"), module, where)  # type: ignore[operator]
    return offenders


def test_domain_imports_no_outer_layer_or_infrastructure():
    files = python_files("domain")
    scanned = {module for _, module in files}
    assert {"domain.rules", "domain.secret_sync", "domain.name_claim"} <= scanned, scanned
    offenders = scan(
        "domain", lambda src, mod, where: forbidden_imports(src, mod, DOMAIN_FORBIDDEN, where)
    )
    assert not offenders, "domain/ must stay pure:\n" + "\n".join(offenders)


def test_domain_imports_only_stdlib_and_eventsourcing_domain():
    offenders = scan("domain", non_pure_imports)
    assert not offenders, (
        "domain/ may import only the stdlib, domain.* and "
        + ", ".join(DOMAIN_ALLOWED_THIRD_PARTY)
        + ":\n"
        + "\n".join(offenders)
    )


def test_adapters_never_import_service():
    assert python_files("adapters"), "no adapters found: the check would pass vacuously"
    offenders = scan(
        "adapters",
        lambda src, mod, where: forbidden_imports(src, mod, ADAPTERS_FORBIDDEN, where),
    )
    assert not offenders, "adapters/ must not import service/:\n" + "\n".join(offenders)


# --- the checker itself -------------------------------------------------------

SYNTHETIC = """\
import os
from eventsourcing.domain import Aggregate
import grpc
from service.config import Config
def late():
    import psycopg.sql
    from google.protobuf import timestamp_pb2
    from hanzo.kms.secretsync.v1 import secret_sync_pb2
    import importlib
    importlib.import_module("azure.keyvault.secrets")
from .. import adapters
from ..service import servicer
from .rules import check_name
import servicemesh
"""


def test_checker_catches_every_forbidden_import_form():
    offenders = forbidden_imports(SYNTHETIC, "domain.fake", DOMAIN_FORBIDDEN, "domain/fake.py")
    assert offenders == [
        "domain/fake.py:3 imports grpc",
        "domain/fake.py:4 imports service",
        "domain/fake.py:6 imports psycopg",
        "domain/fake.py:7 imports google",
        "domain/fake.py:8 imports hanzo",
        "domain/fake.py:10 imports azure",
        "domain/fake.py:11 imports adapters",
        "domain/fake.py:12 imports service",
    ]


def test_checker_resolves_relative_imports_from_adapters():
    source = "from ..service.config import Config\nfrom .sync_view import SyncRow\n"
    assert forbidden_imports(source, "adapters.x", ADAPTERS_FORBIDDEN, "adapters/x.py") == [
        "adapters/x.py:1 imports service"
    ]


def test_purity_checker_flags_third_party_but_not_stdlib_or_eventsourcing_domain():
    source = (
        "import json\n"
        "from eventsourcing.domain import Aggregate\n"
        "from eventsourcing.persistence import Recorder\n"
        "import cryptography\n"
        "from domain.errors import NotFound\n"
    )
    assert non_pure_imports(source, "domain.fake", "domain/fake.py") == [
        "domain/fake.py:3 imports eventsourcing.persistence",
        "domain/fake.py:4 imports cryptography",
    ]


def test_checker_passes_clean_source():
    clean = "from __future__ import annotations\nimport re\nfrom domain.errors import NotFound\n"
    assert forbidden_imports(clean, "domain.x", DOMAIN_FORBIDDEN, "domain/x.py") == []
    assert non_pure_imports(clean, "domain.x", "domain/x.py") == []
