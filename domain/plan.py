"""Planning a sync: which vault secrets to create, update, verify, delete or leave, and why.

Pure: no I/O, no values in the plan. Rules, in the order they apply:
- Keys whose names collide after `_`→`-` or differ only by case block the whole
  sync before anything is written; the plan names them.
- A key whose name is invalid for Key Vault, whose value is too large (Key Vault
  counts 25 KB of UTF-8 bytes), or that could not be resolved fails on its own; the
  other keys go on.
- Disabled vault secrets are never read, overwritten or deleted; nor are secrets that
  back a certificate (`managed`: the secrets API refuses to write or delete them).
- A secret tagged as owned by another sync is never touched (reported as overlap).
- Names outside the key schema are never touched.
- Deletion: never with deletion disabled; otherwise only secrets this sync owns
  (recorded as managed, or tagged with its id), plus, on the first run with
  overwrite-destination, untagged secrets within the schema.
- Writes happen only when needed: a managed key whose source fingerprint and
  vault `updated` time are as recorded is unchanged (no read at all); a changed
  `updated` time means someone edited the vault, so the value is re-read (VERIFY)
  and corrected if it differs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from domain.key_schema import SchemaMatcher, is_valid_vault_name, vault_name
from domain.options import InitialSyncBehavior

OWNER_TAG = "hanzo-kms-sync-id"
DISABLED = "disabled in the vault"  # how a reason that must be reported begins
CERTIFICATE = "backs a certificate"  # likewise
REPORTED = (DISABLED, CERTIFICATE)  # secrets left alone that the job message names
MAX_VALUE_BYTES = 25 * 1024  # Key Vault's 25 KB limit counts the value's UTF-8 bytes


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    VERIFY = "verify"  # read the vault value, write only if it differs
    DELETE = "delete"
    UNCHANGED = "unchanged"
    LEAVE = "leave"
    FAIL = "fail"


WRITES = (Action.CREATE, Action.UPDATE, Action.VERIFY, Action.DELETE)


@dataclass(frozen=True)
class VaultSecret:
    """One entry of the vault listing (a listing carries no values)."""

    name: str
    enabled: bool = True
    updated: int | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = None
    managed: bool = False  # backs a certificate: Key Vault manages it

    @property
    def owner(self) -> str:
        return self.tags.get(OWNER_TAG, "")


@dataclass(frozen=True)
class ManagedKey:
    """What this sync last wrote under one name."""

    name: str
    key: str
    fingerprint: str
    updated: int | None


@dataclass(frozen=True)
class SyncTarget:
    sync_id: str
    environment: str
    key_schema: str = ""
    disable_secret_deletion: bool = False
    first_run: bool = False
    initial_sync_behavior: InitialSyncBehavior = InitialSyncBehavior.OVERWRITE_DESTINATION


@dataclass(frozen=True)
class Step:
    action: Action
    name: str  # the vault name ("" when a key has none)
    key: str  # the source key ("" for vault-only secrets)
    reason: str


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    blocking: list[str] = field(default_factory=list)  # why nothing may be written
    overlaps: list[str] = field(default_factory=list)  # names another sync owns

    def counts(self) -> dict[str, int]:
        counted: dict[str, int] = defaultdict(int)
        for step in self.steps:
            counted[step.action.value] += 1
        return dict(counted)

    def of(self, *actions: Action) -> list[Step]:
        return [s for s in self.steps if s.action in actions]


def too_large(value: str) -> bool:
    return len(value.encode("utf-8")) > MAX_VALUE_BYTES


def too_large_reason(value: str) -> str:
    return (
        f"value is {len(value.encode('utf-8'))} bytes, more than Key Vault's limit of "
        f"{MAX_VALUE_BYTES} bytes"
    )


def plan_sync(
    source: Mapping[str, str],
    problems: Mapping[str, str],
    listing: list[VaultSecret],
    managed: Mapping[str, ManagedKey],
    target: SyncTarget,
    fingerprint: Callable[[str], str],
) -> Plan:
    """`managed` is keyed by lowercase vault name; `fingerprint` hashes a value."""
    plan = Plan()
    names, plan.blocking = _names(source, problems, target, plan)
    if plan.blocking:
        return Plan(blocking=plan.blocking)
    for key, why in sorted(problems.items()):
        plan.steps.append(Step(Action.FAIL, "", key, f"cannot be resolved: {why}"))
    vault = {s.name.lower(): s for s in listing}
    matcher = SchemaMatcher(target.key_schema, target.environment)
    # A key that failed this time keeps its vault secret: a passing problem (a
    # reference to a key not yet created) must never delete anything.
    kept = {
        vault_name(key, target.key_schema, target.environment).lower()
        for key in [*problems, *(s.key for s in plan.of(Action.FAIL))]
    }
    for lower, (name, key) in sorted(names.items()):
        plan.steps.append(
            _plan_key(name, key, source[key], vault.get(lower), managed.get(lower), target,
                      fingerprint, plan)
        )
    for lower, secret in sorted(vault.items()):
        if lower in kept:
            plan.steps.append(Step(Action.LEAVE, secret.name, "", "kept: its source key failed"))
        elif lower not in names:
            plan.steps.append(_plan_vault_only(secret, managed.get(lower), target, matcher, plan))
    return plan


def _names(
    source: Mapping[str, str], problems: Mapping[str, str], target: SyncTarget, plan: Plan
) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """Lowercase name -> (name, key) for writable keys; collisions block the sync.

    Collisions are looked for among every key, failing ones included: a failing
    key keeps its vault secret, so no other key may write over it.
    """
    by_name: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key in {*source, *problems}:
        name = vault_name(key, target.key_schema, target.environment)
        by_name[name.lower()].append((name, key))
    blocking = [
        f"keys {', '.join(sorted(k for _, k in pairs))} all become the vault name "
        f"{pairs[0][0]!r} (Key Vault names ignore case and '_' becomes '-')"
        for pairs in by_name.values()
        if len(pairs) > 1
    ]
    writable: dict[str, tuple[str, str]] = {}
    for lower, [(name, key)] in ((k, v) for k, v in by_name.items() if len(v) == 1):
        if key in problems:
            continue
        if not is_valid_vault_name(name):
            why = f"{name!r} is not a valid Key Vault name (1-127 letters, digits and '-')"
            plan.steps.append(Step(Action.FAIL, name, key, why))
        elif too_large(source[key]):
            plan.steps.append(Step(Action.FAIL, name, key, too_large_reason(source[key])))
        else:
            writable[lower] = (name, key)
    return writable, sorted(blocking)


def _plan_key(
    name: str,
    key: str,
    value: str,
    secret: VaultSecret | None,
    managed: ManagedKey | None,
    target: SyncTarget,
    fingerprint: Callable[[str], str],
    plan: Plan,
) -> Step:
    if secret is None:
        return Step(Action.CREATE, name, key, "not in the vault")
    if secret.managed:
        return Step(Action.LEAVE, secret.name, key, f"{CERTIFICATE}: never read or written")
    if not secret.enabled:
        return Step(Action.LEAVE, secret.name, key, f"{DISABLED}: never read or written")
    if secret.owner and secret.owner != target.sync_id:
        plan.overlaps.append(secret.name)
        return Step(Action.LEAVE, secret.name, key, f"owned by another sync ({secret.owner})")
    if managed is None or secret.owner != target.sync_id:
        return Step(Action.VERIFY, secret.name, key, "in the vault, not yet managed by this sync")
    if managed.fingerprint != fingerprint(value):
        return Step(Action.UPDATE, secret.name, key, "value changed in the source")
    if managed.updated != secret.updated:
        return Step(Action.VERIFY, secret.name, key, "changed in the vault since the last sync")
    return Step(Action.UNCHANGED, secret.name, key, "as last written")


def _plan_vault_only(
    secret: VaultSecret,
    managed: ManagedKey | None,
    target: SyncTarget,
    matcher: SchemaMatcher,
    plan: Plan,
) -> Step:
    name = secret.name
    if not matcher.matches(name):
        return Step(Action.LEAVE, name, "", "outside the key schema")
    if secret.managed:
        return Step(Action.LEAVE, name, "", f"{CERTIFICATE}: never deleted")
    if secret.owner and secret.owner != target.sync_id:
        plan.overlaps.append(name)
        return Step(Action.LEAVE, name, "", f"owned by another sync ({secret.owner})")
    if not secret.enabled:
        return Step(Action.LEAVE, name, "", f"{DISABLED}: never deleted")
    if target.disable_secret_deletion:
        return Step(Action.LEAVE, name, "", "secret deletion is disabled")
    if managed is not None or secret.owner == target.sync_id:
        return Step(Action.DELETE, name, managed.key if managed else "", "no longer in the source")
    overwrite = InitialSyncBehavior.OVERWRITE_DESTINATION
    if target.first_run and target.initial_sync_behavior is overwrite:
        return Step(Action.DELETE, name, "", "not in the source (first sync overwrites the vault)")
    return Step(Action.LEAVE, name, "", "not managed by this sync")
