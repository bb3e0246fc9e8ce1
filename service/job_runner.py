"""Running one requested job: claim it, do it, record the outcome.

Claiming records JobStarted with a lease on the sync; the event store's
optimistic concurrency lets exactly one claimant win, whichever replica or
thread it is. The outcome is recorded on the newest version of the sync (other
events, such as a new request, may have come meanwhile).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from eventsourcing.persistence import IntegrityError

from domain.errors import FailedPrecondition, SecretSyncError
from domain.options import InitialSyncBehavior, JobKind
from domain.plan import ManagedKey, Plan, SyncTarget
from domain.resolve import Resolution
from domain.secret_sync import SecretSync
from domain.vault import KeyVault, VaultError
from service.secret_sources import SecretSources
from service.secret_syncs import SecretSyncs
from service.sync_engine import Outcome, SyncEngine

LEASE = timedelta(minutes=5)
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
    ) -> None:
        self.syncs = syncs
        self.sources = sources
        self.vaults = vaults
        self.worker = worker
        self.engine = engine or SyncEngine()
        self.clock = clock

    def run_sync(self, sync_id: str, job_id: str) -> bool:
        """Run a requested sync job; False when another worker holds or finished it."""
        sync = self._claim(sync_id, JobKind.SYNC, job_id)
        if sync is None:
            return False
        try:
            outcome = self._sync(sync)
        except VaultError as error:  # the whole vault failed (e.g. listing refused)
            self._record(sync_id, job_id, None, f"vault: {error.code}: {error}")
            return True
        except SecretSyncError as error:  # e.g. the source folder is gone
            self._record(sync_id, job_id, None, f"{error.reason}: {error}")
            return True
        except Exception as error:  # never let one job take the worker down
            log.exception("sync job %s of %s failed", job_id, sync_id)
            self._record(sync_id, job_id, None, f"internal error ({type(error).__name__})")
            return True
        self._record(sync_id, job_id, outcome, outcome.message())
        return True

    def _claim(self, sync_id: str, kind: JobKind, job_id: str) -> SecretSync | None:
        try:
            sync = self.syncs.get_sync(sync_id)
            sync.start_job(kind, job_id, self.worker, self.clock(), LEASE)
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
        resolution = self.sources.resolve(sync.project_id, sync.environment, sync.secret_path)
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
        managed = {lower: ManagedKey(*entry) for lower, entry in sync.managed.items()}
        return resolution, self.vaults.vault_for(sync), managed, target, fingerprint

    def _record(self, sync_id: str, job_id: str, outcome: Outcome | None, message: str) -> None:
        for _ in range(5):  # a new request may land between our read and write: retry
            sync = self.syncs.get_sync(sync_id)
            if outcome is not None and outcome.succeeded:
                sync.succeed_job(JobKind.SYNC, job_id, message, outcome.counts,
                                 managed_changes=outcome.managed)
            else:
                sync.fail_job(
                    JobKind.SYNC,
                    job_id,
                    message,
                    outcome.counts if outcome else {},
                    failures=outcome.failed if outcome else {},
                    managed_changes=outcome.managed if outcome else {},
                )
            try:
                self.syncs.save(sync)
                return
            except IntegrityError:
                continue
        log.error("could not record the outcome of job %s of %s", job_id, sync_id)
