"""Reading a vault for an import: the engine's side of ImportSecrets and import-first syncs.

It lists the vault, reads (in parallel, within the adapter's pacing) only the
secrets an import may take, and plans what becomes source secrets. Writing them
into the source folder is the job runner's part. One unreadable secret is
reported by name and Azure error code; the others are still imported.
"""

from __future__ import annotations

from collections.abc import Mapping

from domain.import_plan import INVALID_KEY, ImportPlan, plan_import, readable
from domain.key_schema import SchemaMatcher
from domain.options import ImportBehavior
from domain.plan import CERTIFICATE, ManagedKey, Plan, SyncTarget, VaultSecret
from domain.resolve import Resolution
from domain.vault import KeyVault, VaultError
from service.jobs.sync_engine import Outcome, SyncEngine


def import_from_vault(
    engine: SyncEngine,
    vault: KeyVault,
    resolution: Resolution,
    managed: Mapping[str, ManagedKey],
    target: SyncTarget,
    behavior: ImportBehavior,
) -> tuple[ImportPlan, Outcome]:
    """The import plan (its `writes` hold values: never log them) and the outcome so far."""
    outcome = Outcome(Plan())
    values: dict[str, str] = {}

    def read(secret: VaultSecret) -> None:
        try:
            values[secret.name] = vault.get_value(secret.name)
        except VaultError as error:
            outcome.failed[secret.name] = error.explain()

    listing = vault.list_secrets()
    engine.run_steps(read, readable(listing, target))
    plan = plan_import(
        resolution.values, values, managed, target, behavior, unresolved=resolution.problems
    )
    outcome.counts["imported"] = len(plan.writes)
    outcome.counts["kept"] = len(plan.steps) - len(plan.writes)
    for step in plan.steps:
        if not step.imported and step.reason == INVALID_KEY:
            outcome.left[step.name] = step.reason
    matcher = SchemaMatcher(target.key_schema, target.environment)
    for secret in listing:  # never imported: the user must know why
        if secret.managed and matcher.matches(secret.name):
            outcome.left[secret.name] = CERTIFICATE
    return plan, outcome
