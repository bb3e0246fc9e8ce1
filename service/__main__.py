"""Command line: `python -m service serve` (default), `rebuild`, `rotate-root-key`,
and the operator commands of service/cli/ (`project`, `sync`, `emulator`, ...)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from dataclasses import replace

from service.cli import add_commands
from service.runtime.config import Config, ConfigError

# The server's modules (logs, rebuild, server) are imported where they are used: they
# take over a second to load, which every operator command would otherwise pay.


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m service",
        description="Secret Sync service of Hanzo KMS (gRPC). Settings come from "
        "SECRET_SYNC_* environment variables; flags override them.",
    )
    sub = parser.add_subparsers(dest="command")
    for name, text in (
        ("serve", "serve the gRPC API (the default command)"),
        (
            "rebuild",
            "rebuild the secret_syncs view from the event log, while the service "
            "serves (--offline: empty it and replay, service stopped)",
        ),
        (
            "rotate-root-key",
            "re-wrap every data key and the store key by the primary root key, while "
            "the service serves (docs/keys.md)",
        ),
    ):
        command = sub.add_parser(name, help=text, description=text)
        command.add_argument("--database-url", help="sqlite:///path or postgresql://...")
        if name == "rebuild":
            command.add_argument(
                "--offline", action="store_true", help="empty the view, then replay (faster)"
            )
        if name == "serve":
            command.add_argument("--listen", help="host:port, default 127.0.0.1:50051")
            command.add_argument(
                "--dev",
                action="store_true",
                help="development mode (loopback vaults; plaintext gRPC on loopback)",
            )
            add_tls_flags(command)
    add_commands(sub)
    return parser.parse_args(argv)


TLS_FLAGS = {  # flag -> (Config field, help); the env variables are in docs/tls.md
    "--tls-cert-file": ("tls_cert_file", "the server's certificate chain, PEM"),
    "--tls-key-file": ("tls_key_file", "its private key, PEM"),
    "--tls-client-ca-file": (
        "tls_client_ca_file",
        "CA certificates client certificates are verified against (mutual TLS)",
    ),
    "--tls-client-auth": ("tls_client_auth", "require (default with a client CA) or optional"),
    "--tls-client-principals-file": (
        "tls_client_principals_file",
        "JSON: client certificate identity -> principal and grants",
    ),
}


def add_tls_flags(command: argparse.ArgumentParser) -> None:
    group = command.add_argument_group(
        "transport security (env SECRET_SYNC_TLS_*; files are re-read when they change)"
    )
    for flag, (name, text) in TLS_FLAGS.items():
        group.add_argument(
            flag, dest=name, metavar="PATH" if flag.endswith("file") else None, help=text
        )


def configure(args: argparse.Namespace) -> Config:
    config = Config.from_env()
    if getattr(args, "database_url", None):  # absent when no command was given (serve)
        config = replace(config, database_url=args.database_url)
    if getattr(args, "listen", None):
        config = replace(config, listen=args.listen)
    if getattr(args, "dev", False):
        config = replace(config, dev_mode=True)
    for name, _ in TLS_FLAGS.values():
        if getattr(args, name, None):
            config = replace(config, **{name: getattr(args, name)})
    return config


def serve(config: Config) -> None:
    from service.bootstrap import build

    server = build(config)
    server.start()

    def on_signal(signum: int, _frame: object) -> None:
        logging.getLogger("secretsync.server").info("received %s", signal.Signals(signum).name)
        server.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.wait()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if getattr(args, "cli_handler", None):  # an operator command: no server, no logging setup
        raise SystemExit(args.cli_handler(args))
    from service.runtime.logs import setup_logging

    config = configure(args)
    listener = setup_logging(config.log_level, config.log_format)
    try:
        raise SystemExit(run(args, config))
    finally:
        listener.stop()  # flushes what is queued


def run(args: argparse.Namespace, config: Config) -> int:
    """The server's commands; a store or key that cannot be used is one clear line."""
    from adapters.envelope import RootKeyError
    from adapters.store_cipher import StoreEncryptionError
    from service.app.rotation import rotate_root_key
    from service.views.rebuild import rebuild, rebuild_online

    try:
        if args.command == "rebuild":
            (rebuild if args.offline else rebuild_online)(config)
        elif args.command == "rotate-root-key":
            return 0 if rotate_root_key(config).remaining == 0 else 1
        else:
            serve(config)
    except (ConfigError, RootKeyError, StoreEncryptionError) as error:  # a setting, not a bug
        logging.getLogger("secretsync").error("cannot start: %s", error)
        return 2
    return 0


if __name__ == "__main__":
    main()
