"""Which projects may use which of the service host's managed identities, and for which
vaults: the operator's allowance (SECRET_SYNC_MANAGED_IDENTITIES, docs/auth.md).

A managed-identity connection signs in as the identity of the host the service runs
on, not as anything the project owns: without an allowance, any project allowed to
create connections could push into (and import from) every vault that identity can
reach, other teams' included. So it is refused unless the operator listed it.

The setting is a list of entries separated by ';' or whitespace:

    PROJECT=IDENTITY[@VAULT,VAULT...]

- PROJECT: a project id, or `*` for every project;
- IDENTITY: the client id of a user-assigned identity, `system` for the host's
  system-assigned identity, or `*` for any of them;
- VAULTS (optional): host globs (`team-a-*.vault.azure.net`) of the vaults that
  project may reach with it; without them, any vault of the connection's cloud.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from domain.rules import check_uuid

SETTING = "SECRET_SYNC_MANAGED_IDENTITIES"
SYSTEM = "system"  # the host's system-assigned identity (a connection without client id)
ANY = "*"
HOST_GLOB_RE = re.compile(r"^[a-z0-9*?.-]{1,253}$")
NOT_ALLOWED = "MANAGED_IDENTITY_NOT_ALLOWED"


class AllowanceError(ValueError):
    """The setting cannot be read: the service refuses to start, naming the entry."""


@dataclass(frozen=True)
class Allowance:
    project: str  # project id (lowercase) or "*"
    identity: str  # client id (lowercase), "system" or "*"
    vaults: tuple[str, ...] = ()  # host globs; empty: any vault

    def covers(self, project_id: str, identity: str) -> bool:
        return self.project in (ANY, project_id.lower()) and self.identity in (ANY, identity)

    def reaches(self, vault_host: str) -> bool:
        host = vault_host.lower()
        return not self.vaults or any(fnmatch.fnmatchcase(host, g) for g in self.vaults)


def identity_of(client_id: str) -> str:
    """How an allowance names a connection's identity."""
    return client_id.lower() if client_id else SYSTEM


def parse_allowances(text: str) -> tuple[Allowance, ...]:
    allowances = []
    for entry in text.replace(";", " ").split():
        allowances.append(_parse_entry(entry))
    return tuple(allowances)


def _parse_entry(entry: str) -> Allowance:
    shown = entry[:80]
    project, eq, rest = entry.partition("=")
    if not eq:
        raise AllowanceError(f"{SETTING}: {shown!r} is not PROJECT=IDENTITY[@VAULTS]")
    identity, at, vaults = rest.partition("@")
    project, identity = project.lower(), identity.lower()
    if project != ANY and check_uuid("project", project):
        raise AllowanceError(f"{SETTING}: {shown!r}: the project must be a project id or '*'")
    if identity not in (ANY, SYSTEM) and check_uuid("identity", identity):
        raise AllowanceError(
            f"{SETTING}: {shown!r}: the identity must be a client id, 'system' or '*'"
        )
    globs = tuple(g.lower() for g in vaults.split(",") if g)
    if at and (not globs or not all(HOST_GLOB_RE.fullmatch(g) for g in globs)):
        raise AllowanceError(f"{SETTING}: {shown!r}: vaults must be host globs")
    return Allowance(project, identity, globs)


def identity_allowed(
    allowances: tuple[Allowance, ...], project_id: str, client_id: str
) -> str | None:
    """None if the project may use the identity at all, else why not."""
    identity = identity_of(client_id)
    if any(a.covers(project_id, identity) for a in allowances):
        return None
    which = "the system-assigned" if identity == SYSTEM else f"the {identity}"
    return (
        f"{which} managed identity of the service's host is not allowed for this project; "
        f"the operator allows it in {SETTING} (docs/auth.md)"
    )


def vault_allowed(
    allowances: tuple[Allowance, ...], project_id: str, client_id: str, vault_host: str
) -> str | None:
    """None if the project may reach this vault with the identity, else why not."""
    refused = identity_allowed(allowances, project_id, client_id)
    if refused is not None:
        return refused
    identity = identity_of(client_id)
    if any(a.covers(project_id, identity) and a.reaches(vault_host) for a in allowances):
        return None
    return (
        f"the managed identity of this connection may not reach vault {vault_host[:253]} "
        f"for this project; the operator lists its vaults in {SETTING} (docs/auth.md)"
    )
