"""The api-versions Key Vault's secrets API is known to serve.

Kept by hand, not read from the installed SDK: an SDK upgrade that starts sending a
version missing here fails the tests (tests/emulator/test_strict.py) until someone checks
that every cloud the service supports has deployed it, and adds it.
"""

from __future__ import annotations

# What azure-keyvault-secrets 4.12 (pinned in pyproject.toml) knows, newest first.
KNOWN = (
    "2026-04-01",
    "2025-07-01",
    "7.6",
    "7.5",
    "7.4",
    "7.3",
    "7.2",
    "7.1",
    "7.0",
    "2016-10-01",
)
LATEST = KNOWN[0]
