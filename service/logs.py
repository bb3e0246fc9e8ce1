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


def setup_logging(level: str) -> logging.handlers.QueueListener:
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    writer = logging.StreamHandler(sys.stderr)
    writer.setFormatter(logging.Formatter(FORMAT))
    listener = logging.handlers.QueueListener(records, writer, respect_handler_level=True)
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(records)]
    root.setLevel(level)
    listener.start()
    return listener
