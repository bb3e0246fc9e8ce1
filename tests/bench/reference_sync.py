"""The reference implementation's Azure Key Vault sync, with the real SDK, to compare with.

The reference (Infisical's `azureKeyVaultSyncFactory.syncSecrets`) does, per sync:
1. list every secret of the vault (all pages);
2. GET the value of every enabled one, all at once (`Promise.all`: unbounded
   parallelism; here one thread per secret);
3. compare with the source: a name missing from the vault, or a different value,
   is to be set; a vault name missing from the source is to be deleted;
4. PUT the secrets one at a time, in order. On any error: if the vault says the
   name is deleted but recoverable, recover it and sleep 10 s; otherwise sleep a
   fixed 10 s and try again, at most 6 tries. A key that still fails ends the
   sync there (the keys after it are not written);
5. DELETE the ones to delete, one at a time.

Choices made here, so the comparison is fair to both sides:
- The reference sends plain HTTP requests (axios) with no retry of its own, so the
  SDK client is built with `retry_total=0`: a 429 reaches the fixed 10 s sleep,
  as it does in the reference, instead of azure-core's Retry-After handling.
- The fixed delay is the reference's own, 10 s (`FIXED_DELAY_SECONDS`).
- A new credential and client per sync, as the reference fetches a token per sync.

Run as `python -m tests.bench.reference_sync ...` (one sync; prints a JSON line):
a process of its own, so its thousand threads do not share a GIL with anything.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

from azure.core.exceptions import AzureError, HttpResponseError
from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient

from tests.bench.sync_secrets import bench_secrets, vault_name

FIXED_DELAY_SECONDS = 10.0
MAX_TRIES = 6
DELETED_BUT_RECOVERABLE = "ObjectIsDeletedButRecoverable"


@dataclass
class ReferenceResult:
    seconds: float = 0.0
    listed: int = 0  # secrets in the vault's listing
    read: int = 0  # values read (GET)
    written: int = 0  # secrets set
    failed: int = 0  # keys not written: the one that failed 6 times and every key after it
    deleted: int = 0
    fixed_sleeps: int = 0  # how many times it slept FIXED_DELAY_SECONDS
    error: str = ""  # why the sync ended early, if it did
    peak_rss_kib: int = 0


def reference_sync(
    client: SecretClient,
    source: Mapping[str, str],
    sleep: Callable[[float], None] = time.sleep,
) -> ReferenceResult:
    """One sync of `source` (key -> value) into the client's vault, the reference's way."""
    result = ReferenceResult()
    listing = list(client.list_properties_of_secrets())
    result.listed = len(listing)
    disabled = {p.name for p in listing if not p.enabled}
    vault = _read_all(client, [p.name for p in listing if p.enabled and p.name])
    result.read = len(vault)
    to_set = [
        (vault_name(key), value)
        for key, value in source.items()
        if vault.get(vault_name(key)) != value
    ]
    to_delete = [name for name in vault if name.replace("-", "_") not in source]
    for position, (name, value) in enumerate(to_set):
        if name in disabled:
            continue
        error = _set_with_fixed_retries(client, name, value, result, sleep)
        if error:
            result.failed = len(to_set) - position
            result.error = f"{name}: {error}"
            return result
        result.written += 1
    for name in to_delete:
        client.begin_delete_secret(name)  # sends the DELETE; the reference does not wait
        result.deleted += 1
    return result


def _read_all(client: SecretClient, names: list[str]) -> dict[str, str]:
    """Every value at once, one thread per secret; any failure fails the sync."""
    values: dict[str, str] = {}
    errors: list[BaseException] = []

    def read(name: str) -> None:
        try:
            values[name] = client.get_secret(name).value or ""
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=read, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return values


def _set_with_fixed_retries(
    client: SecretClient,
    name: str,
    value: str,
    result: ReferenceResult,
    sleep: Callable[[float], None],
) -> str:
    """Empty when set; else the last error, after MAX_TRIES tries."""
    tries, last = MAX_TRIES, ""
    while tries > 0:
        try:
            client.set_secret(name, value)
            return ""
        except AzureError as error:
            last = type(error).__name__
            if _inner_code(error) == DELETED_BUT_RECOVERABLE:
                client.begin_recover_deleted_secret(name)
            else:
                tries -= 1
            result.fixed_sleeps += 1
            sleep(FIXED_DELAY_SECONDS)
    return last


def _inner_code(error: AzureError) -> str | None:
    odata = getattr(error, "error", None) if isinstance(error, HttpResponseError) else None
    inner = getattr(odata, "innererror", None) or {}
    return inner.get("code") if isinstance(inner, dict) else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.reference_sync")
    for name in ("vault-url", "tenant-id", "client-id", "client-secret", "ca-path"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--secrets", type=int, required=True, help="how many (sync_secrets)")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # urllib3 warns once per connection beyond its pool
    source = bench_secrets(args.secrets)
    start = time.perf_counter()
    credential = ClientSecretCredential(
        args.tenant_id,
        args.client_id,
        args.client_secret,
        authority=args.vault_url,
        disable_instance_discovery=True,
        connection_verify=args.ca_path,
    )
    client = SecretClient(
        vault_url=args.vault_url,
        credential=credential,
        verify_challenge_resource=False,
        connection_verify=args.ca_path,
        retry_total=0,
    )
    with client:
        result = reference_sync(client, source)
    result.seconds = time.perf_counter() - start
    result.peak_rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    json.dump(asdict(result), sys.stdout)
    print(flush=True)


if __name__ == "__main__":
    main()
