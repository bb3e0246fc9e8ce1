"""Vaults for syncs: each sync's connection gives the credential; each vault URL
gets one pacer, shared by every sync writing to it (the limits are per vault), and
with a shared budget (PostgreSQL) by every replica too."""

from __future__ import annotations

import os
import threading
from urllib.parse import urlsplit

from azure.core.credentials import TokenCredential

from adapters.azure_key_vault import AzureKeyVault
from adapters.pacing import Pacer, VaultPacer
from adapters.vault_budget import PostgresVaultBudget, SharedVaultPacer
from domain.errors import FailedPrecondition, NotFound
from domain.rules import is_loopback
from domain.secret_sync import SecretSync
from service.app.connections import AzureConnections


class ConnectionVaults:
    def __init__(
        self, connections: AzureConnections, budget: PostgresVaultBudget | None = None
    ) -> None:
        self.connections = connections
        self.budget = budget
        self._pacers: dict[str, Pacer] = {}
        self._credentials: dict[tuple[str, int, str | None], TokenCredential] = {}
        self._lock = threading.Lock()

    def vault_for(self, sync: SecretSync) -> AzureKeyVault:
        # A private CA (development against the emulator) is trusted when named here.
        ca_bundle = os.environ.get("SECRET_SYNC_CA_BUNDLE") or None
        try:
            # An allowance the operator withdrew stops the jobs too, not only new syncs.
            self.connections.check_reach(
                self.connections.get(sync.connection_id), sync.vault_base_url
            )
            credential = self._credential(sync.connection_id, ca_bundle)
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

    def _credential(self, connection_id: str, ca_bundle: str | None) -> TokenCredential:
        """One credential per connection, kept: it caches its token, so a job does not
        sign in again (a token request and an authority discovery each time)."""
        connection = self.connections.get(connection_id)  # NotFound once deleted
        key = (str(connection.id), connection.version, ca_bundle)
        with self._lock:
            credential = self._credentials.get(key)
        if credential is None:
            credential = self.connections.credential_for(
                connection_id, connection_verify=ca_bundle
            )
            with self._lock:
                credential = self._credentials.setdefault(key, credential)
        return credential

    def _pacer(self, vault_url: str) -> Pacer:
        with self._lock:
            pacer = self._pacers.get(vault_url)
            if pacer is None:
                pacer = self._pacers[vault_url] = (
                    SharedVaultPacer(vault_url, self.budget) if self.budget else VaultPacer()
                )
            return pacer
