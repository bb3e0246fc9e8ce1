"""Carrying out a sync plan against a vault: the engine's side of one sync job.

The planner decides (domain/plan.py); this writes, in parallel within the
adapter's pacing, and reports per key. One key's failure never stops the others.
Outcomes name keys and Azure error codes, never values.

Key Vault deletes, recovers and purges asynchronously: a name deleted (by an earlier
run, or by hand) answers 409 ObjectIsBeingDeleted for seconds, then
ObjectIsDeletedButRecoverable until recovered. A write waits the first out (bounded
by `being_deleted_wait`, then that key alone fails), recovers the second, and the
job message says what it waited for.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from domain.options import MAX_JOB_MESSAGE
from domain.plan import (
    OWNER_TAG,
    REPORTED,
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
from domain.vault import BEING_DELETED, DELETED_BUT_RECOVERABLE, KeyVault, VaultError

BEING_DELETED_WAIT_SECONDS = 60.0  # how long one key waits for a deletion or purge to end
T = TypeVar("T")

# What a job waited for, as the message words it.
STILL_DELETING = "still being deleted or purged in the vault (ObjectIsBeingDeleted)"
RECOVERED = "soft-deleted in the vault, recovered before writing"


@dataclass
class Outcome:
    plan: Plan
    counts: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # key or name -> why
    managed: dict[str, list[Any] | None] = field(default_factory=dict)  # lower name -> entry
    left: dict[str, str] = field(default_factory=dict)  # names left in place -> why (reported)
    waited: dict[str, list[str]] = field(default_factory=dict)  # what for -> names
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, what: str) -> None:
        # get-then-set from 8 threads loses increments (a bench once showed "399
        # created" for 400 writes): under the lock.
        with self._lock:
            self.counts[what] = self.counts.get(what, 0) + 1

    def waited_for(self, what: str, name: str) -> None:
        with self._lock:
            names = self.waited.setdefault(what, [])
            if name not in names:
                names.append(name)

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
                text += "; failed: " + _grouped(self.failed)
            if self.waited:
                text += "; waited for: " + "; ".join(
                    f"{len(names)} {what} ({', '.join(sorted(names))})"
                    for what, names in sorted(self.waited.items())
                )
            if self.left:
                left = sorted(self.left.items())
                text += "; left in place: " + ", ".join(f"{name} ({why})" for name, why in left)
            if self.plan.overlaps:
                text += "; owned by another sync: " + ", ".join(sorted(self.plan.overlaps))
        return text[:MAX_JOB_MESSAGE]


def _grouped(failed: Mapping[str, str]) -> str:
    """Keys by reason, so that one reason shared by many keys is said once."""
    by_reason: dict[str, list[str]] = {}
    for key, why in sorted(failed.items()):
        by_reason.setdefault(why, []).append(key)
    return "; ".join(f"{', '.join(keys)} ({why})" for why, keys in by_reason.items())


class SyncEngine:
    def __init__(
        self,
        concurrency: int = 8,
        *,
        being_deleted_wait: float = BEING_DELETED_WAIT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.concurrency = concurrency
        self.being_deleted_wait = being_deleted_wait
        self.sleep = sleep
        self.clock = clock

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
            for reported in REPORTED:  # never touched, but the user must know
                if step.reason.startswith(reported):
                    outcome.left[step.name] = reported
        by_name = {s.name.lower(): s for s in listing}
        run = _StepRunner(
            vault, resolution.values, target, fingerprint, by_name, outcome, self._waiting
        )
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
        run = _StepRunner(vault, {}, SyncTarget(sync_id, ""), str, {}, outcome, self._waiting)
        self.run_steps(run, plan.of(Action.DELETE))
        outcome.counts["left"] = len(outcome.left)
        return outcome

    def run_steps(self, run: Callable[[T], None], items: list[T]) -> None:
        """`run` on each item in parallel (the adapter paces the vault's limits)."""
        job = contextvars.copy_context()  # so each step's log lines carry the job id
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="sync") as pool:
            list(pool.map(lambda item: job.copy().run(run, item), items))

    def _waiting(self) -> _Wait:
        wait = self.being_deleted_wait
        return _Wait(wait, self.clock() + wait, self.sleep, self.clock)


class _GaveUp(Exception):
    """A key waited as long as it may; the message says why (never a value)."""


@dataclass
class _Wait:
    """One key's wait for a deletion or purge in progress: growing pauses, a deadline."""

    seconds: float
    deadline: float
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    pause: float = 0.25

    def again(self) -> bool:
        """Pause and say True, or say False once the deadline has passed."""
        left = self.deadline - self.clock()
        if left <= 0:
            return False
        self.sleep(min(self.pause, left))
        self.pause = min(self.pause * 2, 2.0)
        return True


@dataclass
class _StepRunner:
    vault: KeyVault
    values: Mapping[str, str]
    target: SyncTarget
    fingerprint: Callable[[str], str]
    listing: Mapping[str, VaultSecret]  # by lowercase name
    outcome: Outcome
    waiting: Callable[[], _Wait]

    def __call__(self, step: Step) -> None:
        try:
            if step.action is Action.DELETE:
                self._delete(step)
            elif step.action is Action.VERIFY:
                self._verify(step)
            else:
                self._write(step, step.action.value + "d")
        except VaultError as error:
            self.outcome.failed[step.key or step.name] = error.explain()
        except _GaveUp as gave_up:
            self.outcome.failed[step.key or step.name] = str(gave_up)
        except Exception as error:  # an adapter bug must not stop the other keys
            self.outcome.failed[step.key or step.name] = type(error).__name__

    def _count(self, what: str) -> None:
        self.outcome.count(what)

    def _write(self, step: Step, what: str) -> None:
        value = self.values[step.key]
        tags = {OWNER_TAG: self.target.sync_id}
        wait = self.waiting()
        recovered = False
        while True:
            try:
                updated = self.vault.set_secret(step.name, value, tags)
                break
            except VaultError as error:
                if error.inner == BEING_DELETED:
                    self.outcome.waited_for(STILL_DELETING, step.name)
                    if wait.again():
                        continue
                    raise _GaveUp(
                        f"{BEING_DELETED}: still being deleted or purged in the vault after "
                        f"{wait.seconds:g} s; the next sync retries it"
                    ) from None
                if error.inner != DELETED_BUT_RECOVERABLE or recovered:
                    raise
            self.vault.recover_secret(step.name)  # a soft-deleted name: recover, then set
            self.outcome.waited_for(RECOVERED, step.name)
            recovered = True
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
            # Gone already, or its deletion (by hand, or by another sync) is under way.
            if error.code != "SecretNotFound" and error.inner != BEING_DELETED:
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
