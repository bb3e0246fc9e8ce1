"""Logging that costs a call almost nothing: handlers run on a background thread.

With dozens of handler threads, formatting and writing each call's log line
under the stream's lock showed up as a third of the CPU per call; a queue hands
records to one writer thread instead.

Lines are human-readable by default, or JSON objects one per line
(SECRET_SYNC_LOG_FORMAT=json) for log collectors; see docs/observability.md.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import queue
import sys
import time

from service.runtime.log_context import current_job_id, current_request_id

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
LOG_FORMATS = ("human", "json")
# Fields some of our log calls pass as `extra`; a JSON line carries those present.
EXTRA_FIELDS = ("grpc_method", "grpc_code", "duration_ms", "principal")


class _QueueHandler(logging.handlers.QueueHandler):
    """Hands records over unformatted: the writer thread formats them.

    The standard QueueHandler formats in the caller's thread, which is the
    cost we want off the call path. Our log calls pass only immutable values.
    """

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # Context variables belong to the caller's thread: read them here, not in the writer.
        record.request_id = current_request_id.get()
        record.job_id = current_job_id.get()
        return record


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the ids when known."""

    def format(self, record: logging.LogRecord) -> str:
        seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line: dict[str, object] = {
            "time": f"{seconds}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("request_id", "job_id", *EXTRA_FIELDS):
            value = getattr(record, name, None)
            if value:
                line[name] = round(value, 3) if isinstance(value, float) else value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def formatter(log_format: str) -> logging.Formatter:
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {LOG_FORMATS}, not {log_format!r}")
    return JsonFormatter() if log_format == "json" else logging.Formatter(FORMAT)


def setup_logging(level: str, log_format: str = "human") -> logging.handlers.QueueListener:
    # Our format uses none of these; the logging docs' "Optimization" section names
    # them as the per-record costs to switch off (caller lookup walks the stack).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    writer = logging.StreamHandler(sys.stderr)
    writer.setFormatter(formatter(log_format))
    listener = logging.handlers.QueueListener(records, writer, respect_handler_level=True)
    root = logging.getLogger()
    root.handlers[:] = [_QueueHandler(records)]
    root.setLevel(level)
    # The Azure SDK logs every HTTP request and response, headers included, at INFO:
    # a megabyte per thousand secrets. Its warnings and errors still come through.
    azure = logging.getLogger("azure")
    azure.setLevel(max(logging.WARNING, logging.getLevelName(level)))
    listener.start()
    return listener
