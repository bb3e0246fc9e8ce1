"""What every log line of a call or a job carries: its request id and its job id.

The values are set by the call's interceptor (service/app/call_context.py) and by the job
runner (service/jobs/job_context.py); the log formatter (logs.py) only reads them, so they
live here, below both."""

from __future__ import annotations

import contextvars

current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar(
    "current_request_id", default=""
)
current_job_id: contextvars.ContextVar[str] = contextvars.ContextVar("current_job_id", default="")
