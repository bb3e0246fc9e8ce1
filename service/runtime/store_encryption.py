"""The settings that make every application encrypt its stored events (docs/keys.md).

Every process that opens an event-sourced application over the store (the server,
`rebuild`, `rotate-root-key`, the token CLI) builds its env with `event_store_env`
or `encryption_env`: the unwrapped store key goes into that dict only, never into
os.environ, and is never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from eventsourcing.application import Application

from adapters.envelope import RootKey
from adapters.store_cipher import (
    CIPHER_TOPIC,
    COMPRESSOR_TOPIC,
    STORE_KEY_ENV,
    LegacyStoreError,
    is_encrypted,
)
from adapters.store_key import load_store_key
from service.runtime.config import Config


def encryption_env(env: dict[str, str], root_key: RootKey) -> dict[str, str]:
    """Cipher and compressor settings, with the store key of the database `env` names."""
    key = load_store_key(env, root_key)
    return {
        "CIPHER_TOPIC": CIPHER_TOPIC,
        "COMPRESSOR_TOPIC": COMPRESSOR_TOPIC,
        STORE_KEY_ENV: base64.b64encode(key).decode(),
    }


def event_store_env(config: Config, root_key: RootKey | None = None) -> dict[str, str]:
    """persistence_env() plus encryption: what an application over the store needs."""
    env = config.persistence_env()
    return env | encryption_env(env, root_key or config.load_root_key())


def derived_store_key(env: Any, purpose: str) -> bytes:
    """A key for one purpose from the store key of an application's env: the same in
    every replica and across root-key rotations (which re-wrap, never change, it)."""
    store_key = base64.b64decode(env.get(STORE_KEY_ENV))
    return hmac.new(store_key, purpose.encode(), hashlib.sha256).digest()


def refuse_unencrypted(config: Config, applications: Iterable[Application]) -> None:
    """Stop at once, with advice, on a store written by a version that did not encrypt."""
    for application in applications:
        first = application.recorder.select_notifications(start=None, limit=1)
        if first and not is_encrypted(first[0].state):
            raise LegacyStoreError(legacy_advice(config))


def legacy_advice(config: Config) -> str:
    where = config.safe_database_url()
    message = (
        f"the event store {where} holds events written unencrypted by an older version; "
        "this version encrypts the store and cannot read them (there is no in-place "
        "migration): point SECRET_SYNC_DATABASE_URL at a new database"
    )
    dbname = config.persistence_env().get("SQLITE_DBNAME")
    if config.dev_mode and dbname:
        message += f", or, in development mode, delete {Path(dbname)} (and its -wal and -shm files)"
    return message
