"""What keeps a stream open: the caller's rights, and the server's maximum stream life.

A unary call is checked once, as it starts. A stream (WatchSecretSync,
StreamAuditEvents) may stay open for hours, so its servicer calls `check_stream()`
every time it looks for something to send (at least once a second): the credential is
proven again (a revoked or expired one ends the stream with UNAUTHENTICATED), and a
stream open for longer than the server allows ends with UNAVAILABLE
(STREAM_LIFETIME_REACHED), telling the client to reconnect from its last position,
where everything is checked anew. What the stream sends is checked against the
caller's grants by the servicer (a sync that moved out of reach: PERMISSION_DENIED).
"""

from __future__ import annotations

import contextvars
import time

from domain.errors import StreamLifetimeReached
from service.app.access import current_access

# When the current stream must end (time.monotonic()); set by the stream limit
# interceptor (service/api/limits.py) as the stream opens.
stream_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "stream_deadline", default=None
)


def check_stream() -> None:
    """Raise if the current stream must end now; refresh the caller's principal."""
    deadline = stream_deadline.get()
    if deadline is not None and time.monotonic() >= deadline:
        raise StreamLifetimeReached(
            "the stream reached the server's maximum lifetime: reconnect, resuming after "
            "the last message received"
        )
    access = current_access.get()
    if access is not None and access.reauthenticate is not None:
        access.principal = access.reauthenticate()
