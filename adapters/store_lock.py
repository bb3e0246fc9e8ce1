"""One process per SQLite store: an exclusive lock on a file beside it, held while serving.

SQLite has no replicas: a second server on the same file would run its own followers over
the same views and fail on their tracking records. The lock (flock) goes with the process,
so a killed server leaves nothing to clean up. PostgreSQL replicas take no such lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


class StoreInUse(Exception):
    """Another process holds the store; the message is the one line an operator reads."""


class StoreLock:
    def __init__(self, path: Path, descriptor: int) -> None:
        self.path = path
        self._descriptor: int | None = descriptor

    @classmethod
    def hold(cls, store: Path) -> StoreLock:
        path = store.with_name(store.name + ".lock")
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(descriptor)
            raise StoreInUse(
                f"the store {store} is in use by another server (pid {holder}); "
                "one server per SQLite store (use PostgreSQL for replicas)"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, str(os.getpid()).encode(), 0)
        return cls(path, descriptor)

    def release(self) -> None:
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is not None:
            with contextlib.suppress(OSError):
                os.close(descriptor)  # closing the file ends the flock
