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
from typing import Any, Literal

from keyvault_emulator.admin import Admin
from keyvault_emulator.app import App
from keyvault_emulator.ca import TlsFiles, make_tls_files, server_context
from keyvault_emulator.counters import Counters
from keyvault_emulator.denials import Denial, Denials, denial
from keyvault_emulator.faults import Faults
from keyvault_emulator.principals import Principal, Principals
from keyvault_emulator.ratelimit import KEY_VAULT, RateLimit
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

    Strict by default, as Key Vault is: delete, recover and purge take seconds
    (store.DELETE_SECONDS ...), throttling at Key Vault's numbers (ratelimit.KEY_VAULT),
    only known api-versions. `lenient=True` turns all three off (windows 0, no throttling,
    any api-version) unless given explicitly; `rate_limit=None` alone turns throttling off.
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
        lenient: bool = False,
        delete_seconds: float | None = None,
        recover_seconds: float | None = None,
        purge_seconds: float | None = None,
        recoverable_days: int = 90,
        token_lifetime: int = 3600,
        latency_ms: float = 0.0,
        rate_limit: RateLimit | Literal["default"] | None = "default",
        check_api_version: bool | None = None,
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
        windows = Timing.instant() if lenient else Timing()
        self.vaults = Vaults(
            clock=clock,
            timing=Timing(
                windows.delete_seconds if delete_seconds is None else delete_seconds,
                windows.recover_seconds if recover_seconds is None else recover_seconds,
                windows.purge_seconds if purge_seconds is None else purge_seconds,
            ),
            recoverable_days=recoverable_days,
        )
        if rate_limit == "default":
            rate_limit = None if lenient else KEY_VAULT
        self.denials = Denials()
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
            denials=self.denials,
        )
        self.app = App(
            vaults=self.vaults,
            identity=self.identity,
            faults=self.faults,
            counters=self.counters,
            admin=admin,
            denials=self.denials,
            check_api_version=(not lenient) if check_api_version is None else check_api_version,
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

    def seed_certificate(
        self, name: str, value: str = "certificate", *, vault: str | None = None
    ) -> None:
        """A secret backing a certificate (managed, with a kid), as a certificate import
        would leave it: listed and readable, refusing set and delete."""
        self.vault(vault).seed_certificate(name, value)

    def deny(
        self,
        code: str,
        *,
        client_id: str | None = None,
        vault: str | None = None,
        permissions: Iterable[str] | None = None,
        names: Iterable[str] | None = None,
    ) -> Denial:
        """Answer 403 with inner error `code` (ForbiddenByRbac, ForbiddenByFirewall,
        ForbiddenByPolicy, AccessDenied) where the denial applies (None: everywhere)."""
        made = denial(
            code, client_id=client_id, vault=vault, permissions=permissions, names=names
        )
        self.denials.add(made)
        return made

    @property
    def timing(self) -> Timing:
        return self.vaults.timing

    def counts(self) -> dict[str, int]:
        return self.counters.snapshot()

    def reset_counts(self) -> None:
        self.counters.reset()
