"""python -m keyvault_emulator: serve until interrupted, printing how to connect.

The connection facts go to stdout as key=value lines, then a line "ready", so scripts and
tests can parse them.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from keyvault_emulator.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_TENANT,
    DEFAULT_VAULT,
    KeyVaultEmulator,
)
from keyvault_emulator.ratelimit import RateLimit


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m keyvault_emulator",
        description="An Azure Key Vault (secrets) emulator with its own token endpoint.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443, help="0 picks a free port")
    parser.add_argument("--tenant", default=DEFAULT_TENANT)
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", help="default: random, printed")
    parser.add_argument("--vault", default=DEFAULT_VAULT, help="the vault this port serves")
    parser.add_argument(
        "--extra-vault",
        action="append",
        default=[],
        help="another vault on a port of its own (repeatable)",
    )
    parser.add_argument(
        "--dns-name",
        action="append",
        default=[],
        help="extra name for the server certificate (repeatable)",
    )
    parser.add_argument("--cert-dir", help="where to write ca.pem (default: a temp dir)")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument(
        "--lenient",
        action="store_true",
        help="kinder than Key Vault: instant delete/recover/purge, no throttling, any "
        "api-version (each can still be set by the flags below)",
    )
    parser.add_argument(
        "--rate-limit",
        action="store_true",
        help="throttle like Key Vault (the default unless --lenient): 300 sets / 4000 "
        "requests per 10 s, or the numbers below",
    )
    parser.add_argument("--no-rate-limit", action="store_true", help="never answer 429")
    parser.add_argument("--rate-limit-sets", type=int, default=300)
    parser.add_argument("--rate-limit-total", type=int, default=4000)
    parser.add_argument("--rate-limit-window", type=float, default=10.0)
    parser.add_argument(
        "--delete-seconds",
        type=float,
        help="how long a deletion stays in progress (default 2; 0 with --lenient)",
    )
    parser.add_argument("--recover-seconds", type=float, help="likewise for a recovery")
    parser.add_argument("--purge-seconds", type=float, help="likewise for a purge")
    parser.add_argument(
        "--any-api-version", action="store_true", help="accept api-versions Key Vault does not"
    )
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    throttled = not args.no_rate_limit and (args.rate_limit or not args.lenient)
    limit = (
        RateLimit(args.rate_limit_sets, args.rate_limit_total, args.rate_limit_window)
        if throttled
        else None
    )
    emulator = KeyVaultEmulator(
        host=args.host,
        port=args.port,
        tenant_id=args.tenant,
        client_id=args.client_id,
        client_secret=args.client_secret,
        vault_name=args.vault,
        dns_names=args.dns_name,
        cert_dir=args.cert_dir,
        lenient=args.lenient,
        delete_seconds=args.delete_seconds,
        recover_seconds=args.recover_seconds,
        purge_seconds=args.purge_seconds,
        latency_ms=args.latency_ms,
        rate_limit=limit,
        check_api_version=False if args.any_api_version else None,
    )
    url, ca_path = emulator.start()
    lines = [
        f"vault_url={url}",
        f"authority={emulator.authority}",
        f"tenant_id={emulator.tenant_id}",
        f"client_id={emulator.client_id}",
        f"client_secret={emulator.client_secret}",
        f"ca_path={ca_path}",
        f"admin_url={url}/_emulator",
    ]
    lines += [f"vault_url.{name}={emulator.add_vault(name)}" for name in args.extra_vault]
    print("\n".join([*lines, "ready"]), flush=True)
    print(
        "Connect with ClientSecretCredential(tenant_id, client_id, client_secret, "
        "authority=<authority>, disable_instance_discovery=True, connection_verify=<ca_path>) "
        "and SecretClient(<vault_url>, credential, verify_challenge_resource=False, "
        "connection_verify=<ca_path>).",
        file=sys.stderr,
        flush=True,
    )

    stopping = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        while not stopping.wait(0.5):  # a timed wait keeps signals deliverable
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
