"""The job a thread is working on: its id on every log line, its metrics when it ends.

JobRunner.run enters `running_job`; `job_finished` is told the outcome once it is
known. The job id lives in a contextvar, as the request id does for calls.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from service.jobs.sync_engine import Outcome
from service.runtime import metrics
from service.runtime.log_context import current_job_id

WRITTEN = ("created", "updated", "deleted", "verified")  # outcome counts that are vault work


@dataclass
class _Job:
    kind: str
    result: str = ""  # set by job_finished; stays empty when the claim was lost


_current_job: contextvars.ContextVar[_Job | None] = contextvars.ContextVar(
    "current_job", default=None
)


@contextmanager
def running_job(kind: str, job_id: str) -> Iterator[None]:
    job = _Job(kind)
    id_token, job_token = current_job_id.set(job_id), _current_job.set(job)
    in_flight = metrics.JOBS_IN_FLIGHT.labels(kind)
    in_flight.inc()
    start = time.perf_counter()
    try:
        yield
    finally:
        in_flight.dec()
        if job.result:  # a job another worker holds is theirs to count
            metrics.JOBS.labels(kind, job.result).inc()
            metrics.JOB_SECONDS.labels(kind, job.result).observe(time.perf_counter() - start)
        _current_job.reset(job_token)
        current_job_id.reset(id_token)


def job_finished(outcome: Outcome | None) -> None:
    """The claimed job ended: with an outcome, or None when it failed as a whole."""
    succeeded = outcome is not None and outcome.succeeded
    job = _current_job.get()
    if job is not None:
        job.result = "succeeded" if succeeded else "failed"
    if outcome is None:
        return
    for action in WRITTEN:
        if outcome.counts.get(action):
            metrics.KEYS_WRITTEN.labels(action).inc(outcome.counts[action])
    if outcome.failed:
        metrics.KEYS_WRITTEN.labels("failed").inc(len(outcome.failed))
