"""Vaults for syncs: each sync's connection gives the credential; each vault URL
gets one pacer, shared by every sync writing to it (the limits are per vault)."""

from __future__ import annotations

import os
import threading
from urllib.parse import urlsplit

from adapters.azure_key_vault import AzureKeyVault
from adapters.pacing import VaultPacer
from domain.errors import FailedPrecondition, NotFound
from domain.rules import is_loopback
from domain.secret_sync import SecretSync
from service.connections import AzureConnections


class ConnectionVaults:
    def __init__(self, connections: AzureConnections) -> None:
        self.connections = connections
        self._pacers: dict[str, VaultPacer] = {}
        self._lock = threading.Lock()

    def vault_for(self, sync: SecretSync) -> AzureKeyVault:
        # A private CA (development against the emulator) is trusted when named here.
        ca_bundle = os.environ.get("SECRET_SYNC_CA_BUNDLE") or None
        try:
            credential = self.connections.credential_for(
                sync.connection_id, connection_verify=ca_bundle
            )
        except NotFound:
            raise FailedPrecondition(
                f"connection {sync.connection_id} does not exist", "CONNECTION_NOT_FOUND"
            ) from None
        host = urlsplit(sync.vault_base_url).hostname or ""
        return AzureKeyVault(
            sync.vault_base_url,
            credential,
            pacer=self._pacer(sync.vault_base_url.lower()),
            connection_verify=ca_bundle or True,
            # Loopback vaults exist only in development mode (validation refuses them
            # otherwise); their host cannot end with the challenge's resource host.
            verify_challenge_resource=not is_loopback(host),
        )

    def _pacer(self, vault_url: str) -> VaultPacer:
        with self._lock:
            return self._pacers.setdefault(vault_url, VaultPacer())
