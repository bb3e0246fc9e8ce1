"""The current call's caller and what it needs: set by the auth interceptor, asked by the
places that load a resource or filter a list.

`current_access` is None when authentication is off and in the service's own threads
(the worker, auto-sync, followers): then everything is allowed and the actor is
"anonymous" (or whatever the thread records itself).

Which answer a refusal takes (docs/auth.md):
- the caller holds no grant at all on the resource's project: exactly what a missing
  resource gets (NOT_FOUND with the same reason and message, or an empty list), so it
  never learns that another project or what it holds exists;
- the caller holds a grant on the project, but not for this action, environment or
  path: PERMISSION_DENIED.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass

from domain.errors import PermissionDenied
from domain.permissions import Principal
from domain.sync_owner import SyncOwner

SYNC, CONNECTION = "sync", "connection"


@dataclass
class Access:
    """One call's principal, the actions it needs, and the kind of resource it is about
    (checked where that resource is loaded: a call by id learns its project there)."""

    principal: Principal
    method: str
    actions: tuple[str, ...]
    subject: str = ""  # SYNC, CONNECTION or "" (the request names its place)
    checked: bool = False  # the subject's check ran (the interceptor verifies it did)
    # Proves the call's credential again (streams, service/app/streams.py): the
    # principal, or UNAUTHENTICATED once it is revoked or expired.
    reauthenticate: Callable[[], Principal] | None = None


current_access: contextvars.ContextVar[Access | None] = contextvars.ContextVar(
    "current_access", default=None
)


def owner() -> SyncOwner | None:
    """The current caller as the owner of a sync it creates or changes (None with
    authentication off, or in the service's own threads: then nothing is narrowed)."""
    access = current_access.get()
    return SyncOwner.of(access.principal) if access is not None else None


def actor() -> str | None:
    access = current_access.get()
    return access.principal.name if access is not None else None


def resource(
    kind: str,
    project_id: str,
    environment: str | None,
    path: str | None,
    missing: Exception,
) -> None:
    """A resource was loaded for the current call: `missing` (what a missing one raises)
    when its project is not the caller's to see; for the call's subject, also the
    action at its environment and path (PERMISSION_DENIED)."""
    access = current_access.get()
    if access is None:
        return
    if not access.principal.sees(project_id):
        raise missing
    if kind == access.subject:
        require_place(access, project_id, environment, path)
        access.checked = True


def place(project_id: str, environment: str | None, path: str | None) -> None:
    """The call's actions at a further place (e.g. where an updated sync now reads)."""
    access = current_access.get()
    if access is not None:
        require_place(access, project_id, environment, path)


def require_place(
    access: Access, project_id: str, environment: str | None, path: str | None
) -> None:
    for action in access.actions:
        if not access.principal.may(action, project_id, environment, path):
            raise PermissionDenied(denial(action, project_id, environment, path))


def denial(action: str, project_id: str, environment: str | None, path: str | None) -> str:
    where = f"project {project_id}"
    if environment is not None:
        where = f"{environment}:{path}" if path is not None else f"environment {environment}"
        where += f" of project {project_id}"
    return f"not allowed to {action} in {where}"


def may(
    action: str, project_id: str, environment: str | None = None, path: str | None = None
) -> bool:
    """For filtering lists: whether the current caller may do `action` there."""
    access = current_access.get()
    return access is None or access.principal.may(action, project_id, environment, path)


def sees(project_id: str) -> bool:
    access = current_access.get()
    return access is None or access.principal.sees(project_id)
