"""Carrying out a sync plan against a vault: the engine's side of one sync job.

The planner decides (domain/plan.py); this writes, in parallel within the
adapter's pacing, and reports per key. One key's failure never stops the others.
Outcomes name keys and Azure error codes, never values.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from domain.options import MAX_JOB_MESSAGE
from domain.plan import (
    DISABLED,
    OWNER_TAG,
    Action,
    ManagedKey,
    Plan,
    Step,
    SyncTarget,
    VaultSecret,
    plan_sync,
)
from domain.remove_plan import plan_remove
from domain.resolve import Resolution
from domain.vault import KeyVault, VaultError

DELETED_BUT_RECOVERABLE = "ObjectIsDeletedButRecoverable"
T = TypeVar("T")


@dataclass
class Outcome:
    plan: Plan
    counts: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # key or name -> why
    managed: dict[str, list[Any] | None] = field(default_factory=dict)  # lower name -> entry
    left: dict[str, str] = field(default_factory=dict)  # names left in place -> why (reported)

    @property
    def succeeded(self) -> bool:
        return not self.plan.blocking and not self.failed

    def message(self) -> str:
        if self.plan.blocking:
            text = "nothing written: " + "; ".join(self.plan.blocking)
        else:
            done = ", ".join(f"{n} {what}" for what, n in sorted(self.counts.items()) if n)
            text = done or ("nothing written" if self.failed else "nothing to do")
            if self.failed:
                failures = sorted(self.failed.items())
                text += "; failed: " + ", ".join(f"{key} ({why})" for key, why in failures)
            if self.left:
                left = sorted(self.left.items())
                text += "; left in place: " + ", ".join(f"{name} ({why})" for name, why in left)
            if self.plan.overlaps:
                text += "; owned by another sync: " + ", ".join(sorted(self.plan.overlaps))
        return text[:MAX_JOB_MESSAGE]


class SyncEngine:
    def __init__(self, concurrency: int = 8) -> None:
        self.concurrency = concurrency

    def plan(
        self,
        resolution: Resolution,
        vault: KeyVault,
        managed: Mapping[str, ManagedKey],
        target: SyncTarget,
        fingerprint: Callable[[str], str],
    ) -> tuple[Plan, list[VaultSecret]]:
        """What a sync would do now (reads the listing only; writes nothing)."""
        listing = vault.list_secrets()
        plan = plan_sync(
            resolution.values, resolution.problems, listing, managed, target, fingerprint
        )
        return plan, listing

    def sync(
        self,
        resolution: Resolution,
        vault: KeyVault,
        managed: Mapping[str, ManagedKey],
        target: SyncTarget,
        fingerprint: Callable[[str], str],
    ) -> Outcome:
        plan, listing = self.plan(resolution, vault, managed, target, fingerprint)
        outcome = Outcome(plan)
        if plan.blocking:
            return outcome
        for step in plan.of(Action.FAIL):
            outcome.failed[step.key] = step.reason
        for step in plan.of(Action.LEAVE):
            if step.reason.startswith(DISABLED):  # never touched, but the user must know
                outcome.left[step.name] = DISABLED
        by_name = {s.name.lower(): s for s in listing}
        run = _StepRunner(vault, resolution.values, target, fingerprint, by_name, outcome)
        self.run_steps(run, plan.of(Action.CREATE, Action.UPDATE, Action.VERIFY, Action.DELETE))
        outcome.counts["unchanged"] = len(plan.of(Action.UNCHANGED))
        return outcome

    def remove(self, vault: KeyVault, managed: Mapping[str, ManagedKey], sync_id: str) -> Outcome:
        """Delete from the vault exactly the names this sync manages (RemoveSecrets)."""
        plan = plan_remove(managed, vault.list_secrets(), sync_id)
        outcome = Outcome(plan)
        for step in plan.of(Action.UNCHANGED):  # already gone: no longer managed
            outcome.managed[step.name.lower()] = None
        for step in plan.of(Action.LEAVE):
            outcome.left[step.name] = step.reason
            if step.name in plan.overlaps:  # another sync took it over: not ours any more
                outcome.managed[step.name.lower()] = None
        run = _StepRunner(vault, {}, SyncTarget(sync_id, ""), str, {}, outcome)
        self.run_steps(run, plan.of(Action.DELETE))
        outcome.counts["left"] = len(outcome.left)
        return outcome

    def run_steps(self, run: Callable[[T], None], items: list[T]) -> None:
        """`run` on each item in parallel (the adapter paces the vault's limits)."""
        job = contextvars.copy_context()  # so each step's log lines carry the job id
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="sync") as pool:
            list(pool.map(lambda item: job.copy().run(run, item), items))


@dataclass
class _StepRunner:
    vault: KeyVault
    values: Mapping[str, str]
    target: SyncTarget
    fingerprint: Callable[[str], str]
    listing: Mapping[str, VaultSecret]  # by lowercase name
    outcome: Outcome

    def __call__(self, step: Step) -> None:
        try:
            if step.action is Action.DELETE:
                self._delete(step)
            elif step.action is Action.VERIFY:
                self._verify(step)
            else:
                self._write(step, step.action.value + "d")
        except VaultError as error:
            self.outcome.failed[step.key or step.name] = error.code
        except Exception as error:  # an adapter bug must not stop the other keys
            self.outcome.failed[step.key or step.name] = type(error).__name__

    def _count(self, what: str) -> None:
        counts = self.outcome.counts
        counts[what] = counts.get(what, 0) + 1  # dict updates are atomic under the GIL

    def _write(self, step: Step, what: str) -> None:
        value = self.values[step.key]
        tags = {OWNER_TAG: self.target.sync_id}
        try:
            updated = self.vault.set_secret(step.name, value, tags)
        except VaultError as error:
            if error.inner != DELETED_BUT_RECOVERABLE:
                raise
            self.vault.recover_secret(step.name)  # a soft-deleted name: recover, then set
            updated = self.vault.set_secret(step.name, value, tags)
        self._remember(step, value, updated)
        self._count(what)

    def _verify(self, step: Step) -> None:
        """Read the vault's value; write only if it differs (drift or adoption)."""
        value = self.values[step.key]
        listed = self.listing[step.name.lower()]
        owned = listed.owner == self.target.sync_id
        if owned and self.vault.get_value(step.name) == value:
            self._remember(step, value, listed.updated)  # same value: no new version
            self._count("verified")
        else:
            self._write(step, "updated")  # drifted, or not ours yet: write and tag

    def _delete(self, step: Step) -> None:
        try:
            self.vault.delete_secret(step.name)
        except VaultError as error:
            if error.code != "SecretNotFound":
                raise
        self.outcome.managed[step.name.lower()] = None
        self._count("deleted")

    def _remember(self, step: Step, value: str, updated: int | None) -> None:
        self.outcome.managed[step.name.lower()] = [
            step.name,
            step.key,
            self.fingerprint(value),
            updated,
        ]
