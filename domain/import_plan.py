"""Planning an import: which vault secrets become source secrets, under which keys. Pure.

- Only enabled secrets inside the key schema and not owned by another sync are read.
- The schema is stripped from the name; the key is, in order: the key this sync
  wrote the name from, a source key that maps to the name, or the name itself
  (so `DB-HOST` stays `DB-HOST` rather than guessing `DB_HOST`).
- prioritize-source imports only keys the source lacks; prioritize-destination
  also overwrites differing source values, but never with an empty value.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from domain.key_schema import SchemaMatcher, vault_name
from domain.options import ImportBehavior
from domain.plan import ManagedKey, SyncTarget, VaultSecret
from domain.source_rules import KEY_RE

INVALID_KEY = "not a valid source key"


@dataclass(frozen=True)
class ImportStep:
    name: str
    key: str
    imported: bool
    reason: str


@dataclass
class ImportPlan:
    writes: dict[str, str] = field(default_factory=dict)  # key -> value: never logged
    steps: list[ImportStep] = field(default_factory=list)  # no values

    def imported(self) -> list[str]:
        return sorted(self.writes)


def readable(listing: list[VaultSecret], target: SyncTarget) -> list[VaultSecret]:
    """The vault secrets an import may read (whose values must be fetched)."""
    matcher = SchemaMatcher(target.key_schema, target.environment)
    return [
        s
        for s in listing
        if s.enabled
        and not s.managed  # a certificate's secret (its private key) is not a source secret
        and matcher.matches(s.name)
        and s.owner in ("", target.sync_id)
    ]


def plan_import(
    source: Mapping[str, str],
    vault_values: Mapping[str, str],
    managed: Mapping[str, ManagedKey],
    target: SyncTarget,
    behavior: ImportBehavior,
    unresolved: Collection[str] = (),
) -> ImportPlan:
    """`vault_values`: name -> value of the secrets `readable` chose.

    `unresolved`: source keys whose value cannot be resolved now (a broken
    reference); they exist in the source, so an import never overwrites them.
    """
    plan = ImportPlan()
    matcher = SchemaMatcher(target.key_schema, target.environment)
    by_name = {vault_name(k, target.key_schema, target.environment).lower(): k for k in source}
    for name, value in sorted(vault_values.items()):
        lower = name.lower()
        known = managed.get(lower)
        key = known.key if known else by_name.get(lower) or matcher.key_part(name) or ""
        if not KEY_RE.fullmatch(key):
            plan.steps.append(ImportStep(name, key, False, INVALID_KEY))
            continue
        current = source.get(key)
        if key in unresolved:
            plan.steps.append(ImportStep(name, key, False, "the source keeps its value"))
        elif current is None:
            plan.writes[key] = value
            plan.steps.append(ImportStep(name, key, True, "not in the source"))
        elif behavior is ImportBehavior.PRIORITIZE_SOURCE or current == value:
            plan.steps.append(ImportStep(name, key, False, "the source keeps its value"))
        elif not value and current:
            plan.steps.append(ImportStep(name, key, False, "empty in the vault"))
        else:
            plan.writes[key] = value
            plan.steps.append(ImportStep(name, key, True, "the vault's value wins"))
    return plan
