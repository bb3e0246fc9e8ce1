"""Who is calling and under which request id: recorded on every event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from domain.errors import require
from domain.rules import check_request_id
from service.app.access import actor as access_actor
from service.runtime.log_context import current_request_id  # set per call by call_log

ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class CallContext:
    actor: str
    request_id: str




def new_request_id() -> str:
    return str(uuid.uuid4())


def call_context(request_id_field: str = "") -> CallContext:
    """The request's own `request_id` wins over the metadata; one is made if neither."""
    request_id = request_id_field or current_request_id.get() or new_request_id()
    return CallContext(actor=current_actor(), request_id=request_id)


def current_actor() -> str:
    """The calling principal (service/app/access.py), or "anonymous" with authentication off."""
    return access_actor() or ANONYMOUS


def mutation_context(request_id_field: str) -> CallContext:
    """call_context for a mutation whose only checked field here is request_id."""
    require(check_request_id(request_id_field))
    return call_context(request_id_field)
