"""Encryption of the event store itself: every stored event and snapshot state.

The eventsourcing library passes each event's serialised (and compressed) state
through the cipher named by CIPHER_TOPIC. Ours is AES-256-GCM under the store key,
a random key made once per database and kept wrapped by the root key
(adapters/store_key.py); the unwrapped key reaches the cipher only through the
application's env dict, as base64 under STORE_KEY_ENV.

A stored state reads MAGIC | version | key id (4 bytes) | nonce | ciphertext+tag,
the header being the associated data: a later store key (another id) or format
(another version) can be told apart, and a header changed in storage fails to open.
"""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import Cipher

STORE_KEY_ENV = "SECRET_SYNC_STORE_KEY"  # in the application's env dict only
CIPHER_TOPIC = "adapters.store_cipher:StoreCipher"
COMPRESSOR_TOPIC = "eventsourcing.compressor:ZlibCompressor"
MAGIC = b"\x00SSE"  # no JSON text (nor zlib stream) starts with a zero byte
VERSION = 1
NONCE_BYTES = 12
KEY_BYTES = 32
HEADER_BYTES = len(MAGIC) + 1 + 4


class StoreEncryptionError(Exception):
    """The event store cannot be read with this configuration (never holds key material)."""


class LegacyStoreError(StoreEncryptionError):
    """The store holds events written before the store was encrypted."""


def store_key_id(key: bytes) -> bytes:
    """4 bytes naming a store key in every state it encrypts (a hash prefix, not secret)."""
    return hashlib.sha256(b"store-key-id" + key).digest()[:4]


def is_encrypted(state: bytes) -> bool:
    return bytes(state[: len(MAGIC)]) == MAGIC


class StoreCipher(Cipher):
    """AES-256-GCM with a versioned, key-naming header (see the module's docstring)."""

    def __init__(self, environment: Any) -> None:
        text = environment.get(STORE_KEY_ENV)
        if not text:
            raise StoreEncryptionError(f"{STORE_KEY_ENV} is not in the application's env")
        key = base64.b64decode(text)
        if len(key) != KEY_BYTES:
            raise StoreEncryptionError(f"the store key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)
        self._header = MAGIC + bytes([VERSION]) + store_key_id(key)

    def encrypt(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return self._header + nonce + self._aead.encrypt(nonce, plaintext, self._header)

    def decrypt(self, ciphertext: bytes) -> bytes:
        ciphertext = bytes(ciphertext)
        header = ciphertext[:HEADER_BYTES]
        if header != self._header:
            raise StoreEncryptionError(self._mismatch(header))
        nonce = ciphertext[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, ciphertext[HEADER_BYTES + NONCE_BYTES :], header)
        except InvalidTag:
            raise StoreEncryptionError("a stored event does not open: damaged or altered") from None

    def _mismatch(self, header: bytes) -> str:
        if not is_encrypted(header):
            return "a stored event is not encrypted: the store predates store encryption"
        if header[len(MAGIC)] != VERSION:
            return f"a stored event has an unknown encryption format ({header[len(MAGIC)]})"
        return f"a stored event is encrypted by another store key ({header[-4:].hex()})"
