"""The sync's options and job vocabulary, as the product names them."""

from __future__ import annotations

from enum import StrEnum


class InitialSyncBehavior(StrEnum):
    OVERWRITE_DESTINATION = "overwrite-destination"
    IMPORT_PRIORITIZE_SOURCE = "import-prioritize-source"
    IMPORT_PRIORITIZE_DESTINATION = "import-prioritize-destination"


class ImportBehavior(StrEnum):
    PRIORITIZE_SOURCE = "prioritize-source"
    PRIORITIZE_DESTINATION = "prioritize-destination"


class JobKind(StrEnum):
    SYNC = "sync"
    IMPORT = "import"
    REMOVE = "remove"


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


DESTINATION = "azure-key-vault"
CONNECTION_APP = "azure"
MAX_JOB_MESSAGE = 1024
