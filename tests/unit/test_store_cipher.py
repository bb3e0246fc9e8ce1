"""Unit tests for adapters/store_cipher.py: the cipher of the event store itself."""

from __future__ import annotations

import base64
import os
import uuid

import pytest
from eventsourcing.compressor import ZlibCompressor
from eventsourcing.persistence import (
    DatetimeAsISO,
    JSONTranscoder,
    Mapper,
    MapperDeserialisationError,
)

from adapters.store_cipher import (
    MAGIC,
    STORE_KEY_ENV,
    StoreCipher,
    StoreEncryptionError,
    is_encrypted,
)
from domain.project import Project

PAYLOAD = b'{"name": "CANARY-payload", "slug": "canary-slug"}'


def cipher(key: bytes | None = None) -> StoreCipher:
    key = key or os.urandom(32)
    return StoreCipher({STORE_KEY_ENV: base64.b64encode(key).decode()})


def test_round_trip_hides_the_plaintext_and_is_fresh_each_time():
    store = cipher()
    sealed = store.encrypt(PAYLOAD)
    assert is_encrypted(sealed) and sealed.startswith(MAGIC)
    assert b"CANARY" not in sealed and b"canary" not in sealed
    assert store.encrypt(PAYLOAD) != sealed  # a fresh nonce each time
    assert store.decrypt(sealed) == PAYLOAD
    assert store.decrypt(memoryview(sealed)) == PAYLOAD  # as some drivers return bytea


@pytest.mark.parametrize("position", [-1, -17, -30, 20])
def test_any_changed_byte_is_refused(position: int):
    store = cipher()
    sealed = bytearray(store.encrypt(PAYLOAD))
    sealed[position] ^= 0x01
    with pytest.raises(StoreEncryptionError, match="damaged or altered"):
        store.decrypt(bytes(sealed))


def test_a_changed_header_is_refused():
    store = cipher()
    sealed = bytearray(store.encrypt(PAYLOAD))
    sealed[len(MAGIC)] = 2  # another format version
    with pytest.raises(StoreEncryptionError, match="unknown encryption format"):
        store.decrypt(bytes(sealed))


def test_another_store_key_is_refused_naming_only_its_id():
    key = os.urandom(32)
    sealed = cipher(key).encrypt(PAYLOAD)
    with pytest.raises(StoreEncryptionError, match="another store key") as raised:
        cipher().decrypt(sealed)
    assert base64.b64encode(key).decode() not in str(raised.value)


def test_a_truncated_state_is_refused():
    store = cipher()
    with pytest.raises(StoreEncryptionError):
        store.decrypt(store.encrypt(PAYLOAD)[:20])


def test_unencrypted_state_is_told_apart():
    with pytest.raises(StoreEncryptionError, match="not encrypted"):
        cipher().decrypt(PAYLOAD)


@pytest.mark.parametrize("env", [{}, {STORE_KEY_ENV: base64.b64encode(b"short").decode()}])
def test_a_missing_or_short_key_is_refused(env: dict[str, str]):
    with pytest.raises(StoreEncryptionError):
        StoreCipher(env)


def transcoder() -> JSONTranscoder:
    made = JSONTranscoder()
    made.register(DatetimeAsISO())
    return made


def test_the_library_mapper_compresses_then_encrypts_events():
    store = cipher()
    mapper: Mapper[uuid.UUID] = Mapper(transcoder(), ZlibCompressor(), store)
    project = Project.create(uuid.uuid4(), "CANARY name", "canary-slug", "id.wrapped", "a", "r")
    (created,) = project.collect_events()
    stored = mapper.to_stored_event(created)
    assert stored.state.startswith(MAGIC) and b"canary" not in stored.state.lower()
    assert mapper.to_domain_event(stored).slug == "canary-slug"  # type: ignore[attr-defined]
    plain: Mapper[uuid.UUID] = Mapper(transcoder())
    legacy = plain.to_stored_event(created)
    with pytest.raises(MapperDeserialisationError, match="not encrypted"):
        mapper.to_domain_event(legacy)
