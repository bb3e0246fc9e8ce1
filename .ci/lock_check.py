"""Fail when requirements.lock no longer matches the pins of pyproject.toml.

`make` installs requirements.lock only, so a pin changed in pyproject.toml alone would
never be installed. Every requirement of pyproject.toml (dependencies and the `dev`
extra) must be an exact `==` pin, found with the same version in the lock, and every
package the lock says comes from pyproject.toml must still be pinned there. Offline:
it reads the two files, nothing else. Usage: lock_check.py [project directory].
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)")
LOCKED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
FIX = "run `make lock` and commit requirements.lock with pyproject.toml"


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(pyproject: Path) -> tuple[dict[str, str], list[str]]:
    project = tomllib.loads(pyproject.read_text())["project"]
    wanted = [*project["dependencies"], *project.get("optional-dependencies", {}).get("dev", [])]
    found: dict[str, str] = {}
    loose: list[str] = []
    for requirement in wanted:
        match = PIN.match(requirement)
        if match is None:
            loose.append(requirement)
        else:
            found[normalized(match[1])] = match[2]
    return found, loose


def locked(lock: Path) -> tuple[dict[str, str], set[str]]:
    """Locked versions, and the packages the lock says were asked for by pyproject.toml."""
    versions: dict[str, str] = {}
    direct: set[str] = set()
    current = ""
    for line in lock.read_text().splitlines():
        match = LOCKED.match(line)
        if match:
            current = normalized(match[1])
            versions[current] = match[2]
        elif "(pyproject.toml)" in line and current:
            direct.add(current)
    return versions, direct


def problems(root: Path) -> list[str]:
    lock = root / "requirements.lock"
    if not lock.exists():
        return ["requirements.lock is missing"]
    wanted, loose = pins(root / "pyproject.toml")
    versions, direct = locked(lock)
    found = [f"{r!r} in pyproject.toml is not an exact pin (name==version)" for r in loose]
    for name, version in sorted(wanted.items()):
        if name not in versions:
            found.append(f"{name}=={version} is pinned in pyproject.toml but not in the lock")
        elif versions[name] != version:
            found.append(
                f"{name} is pinned {version} in pyproject.toml but locked at {versions[name]}"
            )
    found += [
        f"{name} is locked as a pyproject.toml requirement that pyproject.toml no longer has"
        for name in sorted(direct - set(wanted))
    ]
    return found


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    found = problems(root)
    for problem in found:
        print(f"requirements.lock is out of date: {problem}", file=sys.stderr)
    if found:
        print(f"To fix: {FIX}.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
