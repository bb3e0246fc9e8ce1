"""The secrets both sync implementations push: the same keys and values in every run.

Keys contain "_" so both have to map them to Key Vault names ("_" becomes "-");
values are 48 characters, distinct and reproducible without any shared state.
"""

from __future__ import annotations

import hashlib

SECRET_COUNT = 1_000


def bench_secrets(count: int = SECRET_COUNT) -> dict[str, str]:
    """Source key -> value."""
    return {
        f"BENCH_SECRET_{i:04d}": f"value-{i:04d}-" + hashlib.sha256(b"%d" % i).hexdigest()[:38]
        for i in range(count)
    }


def vault_name(key: str) -> str:
    """The Key Vault name of a source key, as both implementations make it."""
    return key.replace("_", "-")
