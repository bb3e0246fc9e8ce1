"""Our KeyVault port (adapters/azure_key_vault.py) with the real SDK against the emulator."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable

import pytest
from azure.identity import ClientSecretCredential

from adapters.azure_key_vault import AzureKeyVault
from adapters.pacing import VaultPacer
from domain.vault import VaultError
from keyvault_emulator import KeyVaultEmulator, RateLimit


def adapter(
    emulator: KeyVaultEmulator,
    pacer: VaultPacer | None = None,
    sleep: Callable[[float], None] = lambda _: None,
) -> AzureKeyVault:
    return AzureKeyVault(
        emulator.url,
        ClientSecretCredential(**emulator.credential_kwargs()),
        pacer=pacer,
        connection_verify=str(emulator.ca_path),
        verify_challenge_resource=False,
        sleep=sleep,
    )


def test_set_list_get_delete_round_trip(emulator: KeyVaultEmulator) -> None:
    vault = adapter(emulator)
    for i in range(60):  # several listing pages of at most 25
        vault.set_secret(f"key-{i}", f"value-{i}", {"hanzo-kms-sync-id": "s1"})
    listing = {s.name: s for s in vault.list_secrets()}
    assert len(listing) == 60
    assert listing["key-7"].tags == {"hanzo-kms-sync-id": "s1"}
    assert listing["key-7"].enabled and listing["key-7"].updated
    assert vault.get_value("KEY-7") == "value-7"  # names are case-insensitive
    vault.delete_secret("key-7")
    assert "key-7" not in {s.name for s in vault.list_secrets()}


def test_set_returns_the_updated_time_the_listing_shows(emulator: KeyVaultEmulator) -> None:
    vault = adapter(emulator)
    updated = vault.set_secret("a", "1", {})
    assert [s.updated for s in vault.list_secrets()] == [updated]


def test_errors_carry_azure_codes_never_values(emulator: KeyVaultEmulator) -> None:
    vault = adapter(emulator)
    with pytest.raises(VaultError) as missing:
        vault.get_value("nope")
    assert missing.value.code == "SecretNotFound" and missing.value.status == 404
    emulator.timing.delete_seconds = 0.3
    vault.set_secret("gone", "CANARY-VALUE", {})
    vault.delete_secret("gone")  # returns as soon as Key Vault has accepted it
    with pytest.raises(VaultError) as deleting:
        vault.set_secret("gone", "CANARY-VALUE", {})
    assert deleting.value.status == 409 and deleting.value.inner == "ObjectIsBeingDeleted"
    time.sleep(0.35)
    with pytest.raises(VaultError) as deleted:
        vault.set_secret("gone", "CANARY-VALUE", {})
    assert deleted.value.inner == "ObjectIsDeletedButRecoverable"
    assert "CANARY-VALUE" not in str(deleted.value) + str(deleting.value)


def test_recover_waits_for_the_deletion_and_the_recovery(emulator: KeyVaultEmulator) -> None:
    emulator.timing.delete_seconds = 0.5
    emulator.timing.recover_seconds = 0.5
    vault = adapter(emulator, sleep=time.sleep)
    vault.set_secret("round-trip", "1", {})
    vault.delete_secret("round-trip")
    vault.recover_secret("round-trip")  # 409 ObjectIsBeingDeleted first: waits it out
    vault.set_secret("round-trip", "2", {})
    assert vault.get_value("round-trip") == "2"


def test_recover_then_set(emulator: KeyVaultEmulator) -> None:
    vault = adapter(emulator, sleep=time.sleep)
    vault.set_secret("back", "1", {})
    vault.delete_secret("back")
    vault.recover_secret("back")
    vault.set_secret("back", "2", {})
    assert vault.get_value("back") == "2"


def test_throttling_is_retried_and_counted(emulator: KeyVaultEmulator) -> None:
    emulator.faults.set_rate_limit(RateLimit(sets=2, total=100, window_seconds=0.5))
    # Our pacer does not know this tiny limit, so 429s come back; wait them out for real.
    vault = adapter(emulator, sleep=time.sleep)
    for i in range(4):
        vault.set_secret(f"t{i}", "v", {})
    assert vault.throttled >= 1 and vault.retries >= vault.throttled
    assert {f"t{i}" for i in range(4)} <= {s.name for s in vault.list_secrets()}


def test_transient_errors_are_retried(emulator: KeyVaultEmulator) -> None:
    vault = adapter(emulator)
    vault.set_secret("x", "1", {})
    emulator.faults.fail_next(2, status=503)
    assert vault.get_value("x") == "1"
    assert vault.retries == 2


def test_permanent_errors_are_not_retried(emulator: KeyVaultEmulator) -> None:
    vault = adapter(emulator)
    with pytest.raises(VaultError) as bad:
        vault.set_secret("bad_name", "1", {})
    assert bad.value.code == "BadParameter"
    assert vault.retries == 0


def test_pacer_keeps_writes_under_the_vault_limit(emulator: KeyVaultEmulator) -> None:
    emulator.faults.set_rate_limit(RateLimit(sets=5, total=100, window_seconds=0.5))
    vault = adapter(emulator, VaultPacer(sets=5, transactions=100, window=0.5))
    for i in range(12):
        vault.set_secret(f"p{i}", "v", {})
    assert vault.throttled == 0


def test_a_redirect_to_another_host_is_never_followed(emulator: KeyVaultEmulator) -> None:
    """Following it would hand the vault's bearer token to whatever host it names."""
    hits: list[str] = []

    class Catcher(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    elsewhere = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Catcher)
    threading.Thread(target=elsewhere.serve_forever, daemon=True).start()
    vault = adapter(emulator)
    vault.set_secret("A", "v", {})
    location = f"http://127.0.0.1:{elsewhere.server_address[1]}/secrets/A"
    emulator.faults.redirect_next(1, location, kinds=["get"])
    try:
        with pytest.raises(VaultError) as raised:
            vault.get_value("A")
    finally:
        elsewhere.shutdown()
    assert raised.value.code == "Redirected"
    assert hits == []
