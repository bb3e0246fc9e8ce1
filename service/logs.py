"""Logging that costs a call almost nothing: handlers run on a background thread.

With dozens of handler threads, formatting and writing each call's log line
under the stream's lock showed up as a third of the CPU per call; a queue hands
records to one writer thread instead.
"""

from __future__ import annotations

import logging
import logging.handlers
import queue
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class _QueueHandler(logging.handlers.QueueHandler):
    """Hands records over unformatted: the writer thread formats them.

    The standard QueueHandler formats in the caller's thread, which is the
    cost we want off the call path. Our log calls pass only immutable values.
    """

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


def setup_logging(level: str) -> logging.handlers.QueueListener:
    # Our format uses none of these; the logging docs' "Optimization" section names
    # them as the per-record costs to switch off (caller lookup walks the stack).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    writer = logging.StreamHandler(sys.stderr)
    writer.setFormatter(logging.Formatter(FORMAT))
    listener = logging.handlers.QueueListener(records, writer, respect_handler_level=True)
    root = logging.getLogger()
    root.handlers[:] = [_QueueHandler(records)]
    root.setLevel(level)
    listener.start()
    return listener
