"""The operator CLI: `python -m service <group> <action>`, talking gRPC to a server.

service/__main__.py adds these commands next to `serve` and `rebuild`. Each group lives
in a module of its own with a `register(commands, common)` function, listed in GROUPS:

    source_commands      project, env, folder
    secret_commands      secret (values only ever from stdin or a hidden prompt)
    connection_commands  connection
    sync_commands        sync (sync_watch: `sync watch`; sync_display: how a sync prints)
    emulator_command     emulator (runs keyvault_emulator)
    token_commands       token (service tokens; `token create --bootstrap` needs no server)
    audit_commands       audit (list, follow)

Extension points, for APIs not built yet:
- the caller's credentials are sent by Client.metadata() (service/cli/client.py), the
  one place that builds every call's metadata (--token-file, SECRET_SYNC_TOKEN).

Importing this package must stay cheap: it loads no server code, so a client command
starts in a fraction of the time `serve` takes to import.
"""

from __future__ import annotations

from service.cli import (
    audit_commands,
    connection_commands,
    emulator_command,
    secret_commands,
    source_commands,
    sync_commands,
    token_commands,
)
from service.cli.options import Subcommands, common_options

GROUPS = (
    emulator_command.register,
    source_commands.register,
    secret_commands.register,
    connection_commands.register,
    sync_commands.register,
    audit_commands.register,
    token_commands.register,
)


def add_commands(commands: Subcommands) -> None:
    """Adds every CLI command to the subparsers of `python -m service`."""
    common = common_options()
    for register in GROUPS:
        register(commands, common)
