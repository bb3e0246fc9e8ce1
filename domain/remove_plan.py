"""Planning a removal: which vault secrets a sync deletes when asked to remove its secrets. Pure.

Exactly the names this sync manages (it wrote them and still owns them), and of
those only the ones still in the vault, enabled, and not taken over by another
sync. Everything else is left in place, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping

from domain.plan import CERTIFICATE, Action, ManagedKey, Plan, Step, VaultSecret


def plan_remove(
    managed: Mapping[str, ManagedKey], listing: list[VaultSecret], sync_id: str
) -> Plan:
    """`managed` is keyed by lowercase vault name, as the sync records it."""
    plan = Plan()
    in_vault = {secret.name.lower(): secret for secret in listing}
    for lower, entry in sorted(managed.items()):
        secret = in_vault.get(lower)
        if secret is None:
            step = Step(Action.UNCHANGED, entry.name, entry.key, "already gone from the vault")
        elif secret.owner and secret.owner != sync_id:
            plan.overlaps.append(secret.name)
            step = Step(Action.LEAVE, secret.name, entry.key, f"now owned by {secret.owner}")
        elif secret.managed:
            step = Step(Action.LEAVE, secret.name, entry.key, f"{CERTIFICATE}: never deleted")
        elif not secret.enabled:
            why = "disabled in the vault: never deleted"
            step = Step(Action.LEAVE, secret.name, entry.key, why)
        else:
            step = Step(Action.DELETE, secret.name, entry.key, "managed by this sync")
        plan.steps.append(step)
    return plan
