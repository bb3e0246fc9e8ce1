"""Production-shaped vault URLs for one process: https://<vault>.vault.azure.net served
by the emulator on loopback.

The SDK checks that a vault's host ends with the host of the challenge's resource
(`vault.azure.net`); against https://127.0.0.1:PORT that check must be turned off, so
the production path is never run. `vault_host_names` resolves every host under the
given suffixes, in this process only, to the emulator's listener (port included: the
SDK believes it speaks to port 443), by wrapping `socket.getaddrinfo`, which urllib3
calls for each connection. The emulator's certificate must name the hosts:
`KeyVaultEmulator(dns_names=["*.vault.azure.net"])`. While the mapping is on, nothing
under those suffixes can reach the network: they all resolve to loopback.

    with KeyVaultEmulator(dns_names=["*.vault.azure.net"]) as emulator:
        with vault_host_names(emulator) as url_of:
            SecretClient(url_of("emulator"), credential)  # challenge check on, as in Azure
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from keyvault_emulator.emulator import KeyVaultEmulator

PUBLIC_SUFFIX = "vault.azure.net"
_patch_lock = threading.Lock()


@contextmanager
def vault_host_names(
    emulator: KeyVaultEmulator, suffixes: tuple[str, ...] = (PUBLIC_SUFFIX,)
) -> Iterator[Callable[[str], str]]:
    """Yields url_of(vault[, suffix]) -> "https://<vault>.<suffix>" while mapped."""
    real = socket.getaddrinfo
    lowered = tuple("." + s.lower() for s in suffixes)

    def mapped(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and name.lower().rstrip(".").endswith(lowered):
            return real(emulator.host, emulator.port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    def url_of(vault: str, suffix: str = suffixes[0]) -> str:
        return f"https://{vault}.{suffix}"

    with _patch_lock:
        socket.getaddrinfo = mapped
    try:
        yield url_of
    finally:
        with _patch_lock:
            socket.getaddrinfo = real
