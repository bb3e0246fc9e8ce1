"""Running one requested job: claim it, do it, record the outcome.

Claiming records JobStarted with a lease on the sync; the event store's
optimistic concurrency lets exactly one claimant win, whichever replica or
thread it is. The outcome is recorded on the newest version of the sync (other
events, such as a new request, may have come meanwhile).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from eventsourcing.persistence import IntegrityError

from domain.errors import FailedPrecondition, SecretSyncError
from domain.options import MAX_JOB_MESSAGE, ImportBehavior, InitialSyncBehavior, JobKind
from domain.plan import ManagedKey, Plan, SyncTarget
from domain.resolve import Resolution
from domain.retry_policy import TRANSIENT_STATUSES, RetryPolicy, transient_code
from domain.secret_sync import SecretSync
from domain.source_rules import MAX_BULK
from domain.sync_owner import owner_readable
from domain.vault import KeyVault, VaultError
from service.app.call_context import CallContext
from service.app.secret_sources import SecretSources
from service.app.secret_syncs import SecretSyncs
from service.jobs.import_engine import import_from_vault
from service.jobs.job_context import job_finished, running_job
from service.jobs.lease import JobLease
from service.jobs.sync_engine import Outcome, SyncEngine
from service.runtime.store_errors import store_failure

LEASE = timedelta(minutes=5)
IMPORTED = "imported from Azure Key Vault"  # the comment on secrets an import wrote
# Initial sync behaviours that import from the vault before the first sync.
FIRST_IMPORTS = {
    InitialSyncBehavior.IMPORT_PRIORITIZE_SOURCE: ImportBehavior.PRIORITIZE_SOURCE,
    InitialSyncBehavior.IMPORT_PRIORITIZE_DESTINATION: ImportBehavior.PRIORITIZE_DESTINATION,
}
log = logging.getLogger("secretsync.jobs")


class VaultProvider(Protocol):
    def vault_for(self, sync: SecretSync) -> KeyVault:
        """A KeyVault for the sync's connection and vault URL."""
        ...


class JobRunner:
    def __init__(
        self,
        syncs: SecretSyncs,
        sources: SecretSources,
        vaults: VaultProvider,
        worker: str,
        engine: SyncEngine | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        lease: timedelta = LEASE,
        retries: RetryPolicy | None = None,
    ) -> None:
        self.lease = lease
        self.retries = retries or RetryPolicy()
        self.syncs = syncs
        self.sources = sources
        self.vaults = vaults
        self.worker = worker
        self.engine = engine or SyncEngine()
        self.clock = clock

    def run(self, sync_id: str, kind: JobKind, job_id: str) -> bool:
        """Run a requested job; False when another worker holds or finished it."""
        with running_job(kind.value, job_id):  # the job id on log lines; job metrics
            return self._run(sync_id, kind, job_id)

    def _run(self, sync_id: str, kind: JobKind, job_id: str) -> bool:
        sync = self._claim(sync_id, kind, job_id)
        if sync is None:
            return False
        log.info("%s job %s of %s claimed", kind.value, job_id, sync_id)
        try:
            lease = JobLease(
                self.syncs, sync_id, kind, job_id, self.worker, self.lease, self.clock
            )
            with lease.kept():
                outcome = self._do(kind, sync, job_id)
        except VaultError as error:  # the whole vault failed (e.g. listing refused)
            transient = (
                error.status in TRANSIENT_STATUSES
                or transient_code(error.code)
                or transient_code(error.inner)
            ) and error.code != "AuthenticationFailed"
            self._record(sync_id, kind, job_id, None, _whole_vault_failed(error), transient)
            return True
        except SecretSyncError as error:  # e.g. the source folder is gone: permanent
            self._record(sync_id, kind, job_id, None, f"{error.reason}: {error}")
            return True
        except Exception as error:  # never let one job take the worker down
            if store_failure(error) is not None:  # the store failed under the job: transient
                log.warning("%s job %s of %s: the store failed (%s)", kind.value, job_id,
                            sync_id, type(error).__name__)
                message = f"StoreUnavailable: the event store failed ({type(error).__name__})"
                self._record(sync_id, kind, job_id, None, message, transient=True)
                return True
            log.exception("%s job %s of %s failed", kind.value, job_id, sync_id)
            self._record(sync_id, kind, job_id, None, f"internal error ({type(error).__name__})")
            return True
        # Keys that failed alone are retried like a failed run, when all their failures
        # are transient (a key still being deleted, throttling, the vault's 5xx).
        failed = set(outcome.failed.values())
        transient = bool(failed) and all(transient_code(code) for code in failed)
        self._record(sync_id, kind, job_id, outcome, outcome.message(), transient)
        return True

    def run_sync(self, sync_id: str, job_id: str) -> bool:
        return self.run(sync_id, JobKind.SYNC, job_id)

    def _do(self, kind: JobKind, sync: SecretSync, job_id: str) -> Outcome:
        if kind is JobKind.REMOVE:
            vault = self.vaults.vault_for(sync)
            return self.engine.remove(vault, managed_keys(sync), str(sync.id))
        if kind is JobKind.IMPORT:
            return self._import(sync, ImportBehavior(sync.job(kind)["import_behavior"]), job_id)
        first_import = FIRST_IMPORTS.get(InitialSyncBehavior(sync.initial_sync_behavior))
        if not (sync.first_run and first_import):
            return self._sync(sync)
        imported = self._import(sync, first_import, job_id)  # the vault first, then the sync
        if not imported.succeeded:
            return imported
        outcome = self._sync(sync)
        outcome.counts["imported"] = imported.counts["imported"]
        return outcome

    def _import(self, sync: SecretSync, behavior: ImportBehavior, job_id: str) -> Outcome:
        resolution, vault, managed, target, _ = self._inputs(sync)
        plan, outcome = import_from_vault(self.engine, vault, resolution, managed, target, behavior)
        entries = [(key, value, IMPORTED) for key, value in sorted(plan.writes.items())]
        ctx = CallContext(actor=f"secret-sync:{sync.id}", request_id=job_id)
        for start in range(0, len(entries), MAX_BULK):
            self.sources.set_secrets(
                sync.project_id,
                sync.environment,
                sync.secret_path,
                entries[start : start + MAX_BULK],
                ctx,
            )
        return outcome

    def _claim(self, sync_id: str, kind: JobKind, job_id: str) -> SecretSync | None:
        try:
            sync = self.syncs.get_sync(sync_id)
            # Read before the job reads the source: it will see every change up to here.
            seen = self.sources.recorder.max_notification_id() or 0
            sync.start_job(
                kind,
                job_id,
                self.worker,
                self.clock(),
                self.lease,
                source_position=seen,
                renewed=self.syncs.renewed_leases(sync),  # a live holder keeps its job
            )
            self.syncs.save(sync)
        except (FailedPrecondition, IntegrityError, SecretSyncError):
            return None
        return sync

    def plan(self, sync: SecretSync) -> Plan:
        """A dry run: what the sync would do now. Reads the source and the listing."""
        plan, _ = self.engine.plan(*self._inputs(sync))
        return plan

    def _sync(self, sync: SecretSync) -> Outcome:
        return self.engine.sync(*self._inputs(sync))

    def _inputs(
        self, sync: SecretSync
    ) -> tuple[Resolution, KeyVault, dict[str, ManagedKey], SyncTarget, Callable[[str], str]]:
        # What the sync's owner may read, and nothing more, is pushed (docs/auth.md).
        resolution = self.sources.resolve(
            sync.project_id,
            sync.environment,
            sync.secret_path,
            readable=owner_readable(sync.sync_owner, sync.project_id),
        )
        project = self.sources.project(sync.project_id)
        fingerprint = self.sources.cipher(project).fingerprint
        target = SyncTarget(
            sync_id=str(sync.id),
            environment=sync.environment,
            key_schema=sync.key_schema,
            disable_secret_deletion=sync.disable_secret_deletion,
            first_run=sync.first_run,
            initial_sync_behavior=InitialSyncBehavior(sync.initial_sync_behavior),
        )
        return resolution, self.vaults.vault_for(sync), managed_keys(sync), target, fingerprint

    def _record(
        self,
        sync_id: str,
        kind: JobKind,
        job_id: str,
        outcome: Outcome | None,
        message: str,
        transient: bool = False,
    ) -> None:
        job_finished(outcome)
        for _ in range(5):  # a new request may land between our read and write: retry
            try:
                aggregates = self._outcome_recorded(
                    sync_id, kind, job_id, outcome, message, transient
                )
                self.syncs.save(*aggregates)
                return
            except IntegrityError:
                continue
            except SecretSyncError as error:  # taken over (we were presumed dead), or deleted
                log.warning(
                    "the outcome of job %s of %s is not ours to record: %s", job_id, sync_id, error
                )
                return
        log.error("could not record the outcome of job %s of %s", job_id, sync_id)

    def _outcome_recorded(
        self,
        sync_id: str,
        kind: JobKind,
        job_id: str,
        outcome: Outcome | None,
        message: str,
        transient: bool,
    ) -> list[Any]:
        """The aggregates to save: the sync with the job's outcome (and, after a
        removal that deletes, the sync deleted and its name freed)."""
        sync = self.syncs.get_sync(sync_id)
        aggregates: list[Any] = [sync]
        retry, message = self._retry(sync, kind, transient, message)
        if outcome is not None and outcome.succeeded:
            sync.succeed_job(
                kind,
                job_id,
                message,
                outcome.counts,
                managed_changes=outcome.managed,
                worker=self.worker,
                retry=retry,
            )
            if kind is JobKind.REMOVE and sync.job(kind)["then_delete"]:
                ctx = CallContext(actor="worker", request_id=job_id)
                aggregates = self.syncs.deletion(sync, ctx)  # removed: now delete
        else:
            sync.fail_job(
                kind,
                job_id,
                message,
                outcome.counts if outcome else {},
                failures=outcome.failed if outcome else {},
                managed_changes=outcome.managed if outcome else {},
                worker=self.worker,
                retry=retry,
            )
        return aggregates

    def _retry(
        self, sync: SecretSync, kind: JobKind, transient: bool, message: str
    ) -> tuple[tuple[int, datetime] | None, str]:
        """The retry a transient failure of a sync job schedules (domain/retry_policy.py),
        and the message saying so."""
        if not transient or kind is not JobKind.SYNC:
            return None, message
        attempt = sync.job_retry(kind)[0] + 1
        at = self.retries.next_retry(attempt, self.clock(), random.uniform(0.8, 1.2))
        limit = self.retries.max_attempts
        # Said last: readers (and clients) match the failure's own words at the start.
        note = message[: MAX_JOB_MESSAGE - 48]
        if at is None:
            return None, f"{note}; not retried again: {limit} retries failed"
        log.info("%s job of %s will be retried (%s of %s) at %s", kind.value, sync.id,
                 attempt, limit, at.isoformat(timespec="seconds"))
        return (attempt, at), f"{note}; retry {attempt} of {limit} at {at:%H:%M:%S}Z"


def _whole_vault_failed(error: VaultError) -> str:
    """The job message when the vault refused the job as a whole (e.g. its listing):
    for a known 403, which kind and what to fix; else Key Vault's code and words."""
    why = error.explain()
    return f"vault: {why}" if why != error.code else f"vault: {error.code}: {error}"


def managed_keys(sync: SecretSync) -> dict[str, ManagedKey]:
    """What the sync last wrote, by lowercase vault name."""
    return {lower: ManagedKey(*entry) for lower, entry in sync.managed.items()}
