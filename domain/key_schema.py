"""From source keys to Key Vault names, and back.

Key Vault names are `^[0-9a-zA-Z-]{1,127}$` and case-insensitive. A key schema
such as `app-{{environment}}-{{secretKey}}` shapes names; `_` becomes `-`
everywhere. Matching a vault name against the schema works on the converted
schema, so schemas written with `_` still find their secrets.
"""

from __future__ import annotations

import re

from domain.rules import ENVIRONMENT_PLACEHOLDER, SECRET_KEY_PLACEHOLDER

VAULT_NAME_RE = re.compile(r"[0-9a-zA-Z-]{1,127}")


def vault_name(key: str, schema: str, environment: str) -> str:
    """The vault name a source key is written under."""
    name = key
    if schema:
        name = schema.replace(ENVIRONMENT_PLACEHOLDER, environment).replace(
            SECRET_KEY_PLACEHOLDER, key
        )
    return name.replace("_", "-")


def is_valid_vault_name(name: str) -> bool:
    return VAULT_NAME_RE.fullmatch(name) is not None


class SchemaMatcher:
    """Tells which vault names the schema could have produced, and the key part."""

    def __init__(self, schema: str, environment: str) -> None:
        if not schema:
            self._pattern = None
            return
        converted = schema.replace(ENVIRONMENT_PLACEHOLDER, environment).replace("_", "-")
        before, _, after = converted.partition(SECRET_KEY_PLACEHOLDER)
        self._pattern = re.compile(
            re.escape(before) + "(?P<key>.+)" + re.escape(after), re.IGNORECASE
        )

    def key_part(self, name: str) -> str | None:
        """The part of `name` standing for {{secretKey}}, or None if it does not match."""
        if self._pattern is None:
            return name
        match = self._pattern.fullmatch(name)
        return match.group("key") if match else None

    def matches(self, name: str) -> bool:
        return self.key_part(name) is not None
