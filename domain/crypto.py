"""What the domain needs from cryptography, without knowing how it is done.

A SecretCipher is bound to one project's data key. `aad` ties a ciphertext to
the secret's identity (project, environment, path, key, version), so a stored
ciphertext cannot be replayed as another secret or another version.
"""

from __future__ import annotations

from typing import Protocol


class SecretCipher(Protocol):
    def seal(self, plaintext: str, aad: str) -> str:
        """Encrypt; returns text safe to store in an event."""
        ...

    def open(self, ciphertext: str, aad: str) -> str:
        """Decrypt what `seal` returned with the same `aad`."""
        ...

    def fingerprint(self, plaintext: str) -> str:
        """A keyed digest: equal values give equal fingerprints, nothing else leaks."""
        ...


def secret_aad(project_id: str, environment: str, path: str, key: str, version: int) -> str:
    return f"secret:{project_id}:{environment}:{path}:{key}:{version}"
