"""`emulator`: the Key Vault emulator, with exactly the flags of
`python -m keyvault_emulator` (its own parser reads them, --help included)."""

from __future__ import annotations

import argparse
import sys

from service.cli.options import Subcommands

TEXT = "run the Azure Key Vault emulator (same flags as python -m keyvault_emulator)"


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    # "+" as the only prefix makes every "-" flag, --help included, a plain argument
    # of this parser, collected untouched for the emulator's own parser.
    parser = commands.add_parser(
        "emulator", help=TEXT, description=TEXT, add_help=False, prefix_chars="+"
    )
    parser.add_argument("emulator_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.set_defaults(cli_handler=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: the emulator's TLS and HTTP code is not needed by other commands, and
    # it is a development tool that the service's wheel does not ship.
    try:
        from keyvault_emulator.__main__ import main
    except ImportError:
        print(
            "the Key Vault emulator is a development tool, not part of an installed service: "
            "run it from a checkout of the repository (make emulator)",
            file=sys.stderr,
        )
        return 2
    return main(args.emulator_args)
