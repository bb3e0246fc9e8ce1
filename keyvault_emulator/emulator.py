"""KeyVaultEmulator: the pieces wired together, served on one or more HTTPS ports."""

from __future__ import annotations

import secrets
import shutil
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from keyvault_emulator.admin import Admin
from keyvault_emulator.app import App
from keyvault_emulator.ca import TlsFiles, make_tls_files, server_context
from keyvault_emulator.counters import Counters
from keyvault_emulator.faults import Faults
from keyvault_emulator.principals import Principal, Principals
from keyvault_emulator.ratelimit import RateLimit
from keyvault_emulator.server import TlsServer
from keyvault_emulator.store import Timing, Vault, Vaults
from keyvault_emulator.tokens import Identity

DEFAULT_TENANT = "e0000000-0000-4000-8000-000000000001"
DEFAULT_CLIENT_ID = "c0000000-0000-4000-8000-000000000001"
DEFAULT_VAULT = "emulator"
_WILDCARD_HOSTS = ("0.0.0.0", "::", "")


class KeyVaultEmulator:
    """An Azure Key Vault (secrets) + Entra ID token endpoint, over HTTPS on loopback.

    One listener serves `vault_name`; `add_vault` opens another port for another vault.
    A request whose Host names a vault (myvault.vault.azure.net:PORT) reaches that vault
    whatever port it arrived on.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tenant_id: str = DEFAULT_TENANT,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str | None = None,
        vault_name: str = DEFAULT_VAULT,
        dns_names: Iterable[str] = (),
        cert_dir: str | Path | None = None,
        delete_seconds: float = 0.0,
        recover_seconds: float = 0.0,
        recoverable_days: int = 90,
        token_lifetime: int = 3600,
        latency_ms: float = 0.0,
        rate_limit: RateLimit | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.vault_name = vault_name
        self._port = port
        self._dns_names = tuple(dns_names)
        self._cert_dir = Path(cert_dir) if cert_dir else None
        self.principals = Principals()
        self.principals.add(client_id, self.client_secret)
        self.vaults = Vaults(
            clock=clock,
            timing=Timing(delete_seconds, recover_seconds),
            recoverable_days=recoverable_days,
        )
        self.identity = Identity(
            tenant_id, self.principals, clock=clock, token_lifetime=token_lifetime
        )
        self.faults = Faults(latency_ms=latency_ms, rate_limit=rate_limit, monotonic=monotonic)
        self.counters = Counters()
        admin = Admin(
            faults=self.faults,
            counters=self.counters,
            principals=self.principals,
            vaults=self.vaults,
            identity=self.identity,
        )
        self.app = App(
            vaults=self.vaults,
            identity=self.identity,
            faults=self.faults,
            counters=self.counters,
            admin=admin,
        )
        self._servers: list[TlsServer] = []
        self._threads: list[threading.Thread] = []
        self._tls: TlsFiles | None = None
        self._temp_dir: Path | None = None
        self._context: ssl.SSLContext | None = None

    # --- lifecycle ---------------------------------------------------------------

    def start(self) -> tuple[str, str]:
        """Listen and serve in background threads; (vault URL, CA certificate path)."""
        if self._servers:
            return self.url, str(self.ca_path)
        if self._cert_dir is None:
            self._temp_dir = Path(tempfile.mkdtemp(prefix="kv-emulator-"))
        directory = self._cert_dir or self._temp_dir
        assert directory is not None
        extra = [*self._dns_names]
        if self.host not in _WILDCARD_HOSTS:
            extra.append(self.host)
        self._tls = make_tls_files(directory, extra)
        self._context = server_context(self._tls)
        try:
            self._listen(self._port, self.vault_name)
        except BaseException:
            self.stop()
            raise
        return self.url, str(self.ca_path)

    def add_vault(self, name: str, port: int = 0) -> str:
        """Serve vault `name` on a port of its own (same CA, tenant and principals)."""
        if not self._servers:
            raise RuntimeError("start() the emulator first")
        return self._listen(port, name)

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
            server.close_connections()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def __enter__(self) -> KeyVaultEmulator:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def _listen(self, port: int, vault: str) -> str:
        assert self._context is not None
        server = TlsServer(self.host, port, self.app, self._context, vault)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},  # how long stop() may wait
            name=f"kv-emulator-{vault}-{server.port}",
            daemon=True,
        )
        self._servers.append(server)
        self._threads.append(thread)
        thread.start()
        self.vaults.get(vault)
        return f"https://{server.advertised}"

    # --- what clients need -------------------------------------------------------

    @property
    def url(self) -> str:
        """The vault URL (and the authority: tokens are served on the same port)."""
        if not self._servers:
            raise RuntimeError("the emulator is not started")
        return f"https://{self._servers[0].advertised}"

    @property
    def authority(self) -> str:
        return self.url

    @property
    def port(self) -> int:
        return self._servers[0].port

    @property
    def ca_path(self) -> Path:
        if self._tls is None:
            raise RuntimeError("the emulator is not started")
        return self._tls.ca_path

    def credential_kwargs(self, client_id: str | None = None) -> dict[str, Any]:
        """Keyword arguments for azure.identity.ClientSecretCredential."""
        principal = self.principals.get(client_id or self.client_id)
        if principal is None:
            raise KeyError(client_id)
        return {
            "tenant_id": self.tenant_id,
            "client_id": principal.client_id,
            "client_secret": principal.client_secret,
            "authority": self.authority,
            "disable_instance_discovery": True,
            "connection_verify": str(self.ca_path),
        }

    # --- state for tests ---------------------------------------------------------

    def vault(self, name: str | None = None) -> Vault:
        return self.vaults.get(name or self.vault_name)

    def add_principal(
        self, client_id: str, client_secret: str, permissions: Iterable[str] | None = None
    ) -> Principal:
        return self.principals.add(client_id, client_secret, permissions)

    def set_permissions(self, client_id: str, permissions: Iterable[str] | None) -> Principal:
        return self.principals.set_permissions(client_id, permissions)

    @property
    def timing(self) -> Timing:
        return self.vaults.timing

    def counts(self) -> dict[str, int]:
        return self.counters.snapshot()

    def reset_counts(self) -> None:
        self.counters.reset()
