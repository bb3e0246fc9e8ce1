"""Secret references inside values: ${KEY} in the same folder, ${env.a.b.KEY} elsewhere.

Only well-formed references count (an environment slug, folder names, a key);
anything else in ${...} is left as literal text, so values such as shell
snippets survive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from domain.rules import ENVIRONMENT_RE, PATH_SEGMENT_RE
from domain.source_rules import KEY_RE

REFERENCE_RE = re.compile(r"\$\{([^{}\s]+)\}")
MAX_DEPTH = 5


@dataclass(frozen=True, order=True)
class Reference:
    environment: str  # "" for the secret's own folder
    path: str  # "" for the secret's own folder
    key: str

    @property
    def is_local(self) -> bool:
        return not self.environment


def parse(inner: str) -> Reference | None:
    parts = inner.split(".")
    key = parts[-1]
    if not KEY_RE.fullmatch(key):
        return None
    if len(parts) == 1:
        return Reference("", "", key)
    environment, folders = parts[0], parts[1:-1]
    if not ENVIRONMENT_RE.fullmatch(environment):
        return None
    if any(not PATH_SEGMENT_RE.fullmatch(f) or f in (".", "..") for f in folders):
        return None
    return Reference(environment, "/" + "/".join(folders), key)


def references_in(value: str) -> list[Reference]:
    """Every well-formed reference in a value, in order of appearance."""
    found = (parse(m.group(1)) for m in REFERENCE_RE.finditer(value))
    return [r for r in found if r is not None]
