"""Envelope encryption: a random data key per project, wrapped by the root key.

AES-256-GCM everywhere. A wrapped data key reads "<root key id>.<base64>" so a
later root-key rotation can tell which key wrapped it. Values are sealed as
"v1.<base64(nonce | ciphertext+tag)>" with the secret's identity as associated
data; fingerprints are HMAC-SHA256 under a key derived from the data key.

A RootKey is a key ring: one primary key, which wraps every new data key, and
older keys that still unwrap what they wrapped until `rewrap` has moved it onto
the primary (docs/keys.md). Rotation never changes a data key, so values and
credentials sealed under it stay as they are.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
KEY_BYTES = 32


class RootKeyError(Exception):
    """The root key is missing or malformed (the message never contains key material)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _seal(aead: AESGCM, plaintext: bytes, aad: bytes) -> str:
    nonce = os.urandom(NONCE_BYTES)
    return _b64(nonce + aead.encrypt(nonce, plaintext, aad))


def _open(aead: AESGCM, sealed: str, aad: bytes) -> bytes:
    raw = _unb64(sealed)
    return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)


class ProjectCipher:
    """Seals and opens one project's secret values (implements domain SecretCipher)."""

    def __init__(self, data_key: bytes) -> None:
        self._aead = AESGCM(data_key)
        self._fingerprint_key = hmac.new(data_key, b"fingerprint", hashlib.sha256).digest()

    def seal(self, plaintext: str, aad: str) -> str:
        return "v1." + _seal(self._aead, plaintext.encode(), aad.encode())

    def open(self, ciphertext: str, aad: str) -> str:
        version, _, sealed = ciphertext.partition(".")
        if version != "v1":
            raise ValueError("unknown ciphertext format")
        return _open(self._aead, sealed, aad.encode()).decode()

    def fingerprint(self, plaintext: str) -> str:
        return hmac.new(self._fingerprint_key, plaintext.encode(), hashlib.sha256).hexdigest()[:32]


class RootKey:
    """The key that wraps every project's data key, with the older keys still readable."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise RootKeyError(f"the root key must be {KEY_BYTES} bytes (base64-encoded)")
        self._aead = AESGCM(key)
        self.key_id = key_id_of(key)
        self._ring: dict[str, AESGCM] = {self.key_id: self._aead}
        self._ciphers: dict[tuple[str, str], ProjectCipher] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_text(cls, text: str) -> RootKey:
        return cls(_key_from_text(text))

    @classmethod
    def from_file(cls, path: Path, *, create: bool) -> RootKey:
        """Read a key file; with `create`, make one (mode 0600) if there is none."""
        if not path.exists():
            if not create:
                raise RootKeyError(f"no root key file at {path}")
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(_b64(os.urandom(KEY_BYTES)) + "\n")
        return cls.from_text(path.read_text())

    def add_old(self, old: RootKey) -> None:
        """Accept an older root key for unwrapping only; wrapping stays with the primary."""
        self._ring.setdefault(old.key_id, old._aead)

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ids of every key of the ring, the primary's first (ids are not secret)."""
        return tuple(self._ring)

    @staticmethod
    def generate_text() -> str:
        return _b64(os.urandom(KEY_BYTES))

    def new_wrapped_data_key(self, project_id: str) -> str:
        return self.wrap(os.urandom(KEY_BYTES), _aad(project_id))

    def wrap(self, key: bytes, aad: bytes) -> str:
        """Any key, wrapped by the primary: "<primary key id>.<base64>"."""
        return f"{self.key_id}." + _seal(self._aead, key, aad)

    def unwrap(self, wrapped: str, aad: bytes, what: str) -> bytes:
        """Open what `wrap` made, with whichever key of the ring made it."""
        key_id, _, sealed = wrapped.partition(".")
        aead = self._ring.get(key_id)
        if aead is None:
            raise RootKeyError(
                f"{what} is wrapped by root key {key_id}, which is not configured "
                f"(configured: {', '.join(self.key_ids)})"
            )
        try:
            return _open(aead, sealed, aad)
        except (InvalidTag, ValueError):
            raise RootKeyError(f"{what} does not open with root key {key_id}") from None

    def is_primary(self, wrapped: str) -> bool:
        return wrapped.partition(".")[0] == self.key_id

    def rewrap_data_key(self, project_id: str, wrapped_data_key: str) -> str:
        """The same data key, wrapped by the primary key."""
        aad = _aad(project_id)
        return self.wrap(self.unwrap(wrapped_data_key, aad, f"project {project_id}"), aad)

    def cipher_for(self, project_id: str, wrapped_data_key: str) -> ProjectCipher:
        # Keyed by the wrapped text: a re-wrapped key is a new entry holding the same
        # data key; the old one is dropped with the process.
        with self._lock:
            cipher = self._ciphers.get((project_id, wrapped_data_key))
        if cipher is None:
            data_key = self.unwrap(wrapped_data_key, _aad(project_id), f"project {project_id}")
            cipher = ProjectCipher(data_key)
            with self._lock:
                self._ciphers[(project_id, wrapped_data_key)] = cipher
        return cipher


def key_id_of(key: bytes) -> str:
    """A short public name of a key (a hash prefix): what wrapped text is tagged with."""
    return hashlib.sha256(b"root-key-id" + key).hexdigest()[:8]


def _key_from_text(text: str) -> bytes:
    try:
        key = _unb64(text.strip())
    except (ValueError, TypeError):
        raise RootKeyError("the root key is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise RootKeyError(f"the root key must be {KEY_BYTES} bytes (base64-encoded)")
    return key


def _aad(project_id: str) -> bytes:
    return f"project-data-key:{project_id}".encode()
