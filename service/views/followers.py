"""The followers a replica runs while it leads: each projection's runner, made on demand.

A follower reads an application's log and advances a view. Several replicas must
not advance the same view at once (the second to apply an event would fail on
its tracking record), so runners are made when this replica is elected
(service/views/leadership.py) and stopped when it is not. The projections themselves,
and their views, live as long as the server: readers use them either way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from eventsourcing.projection import BaseProjectionRunner, Projection, ProjectionRunner

log = logging.getLogger("secretsync.followers")
# A follower's own application only reads the log: it needs few connections, and
# no tables made (the server made them at start; making them again here could race
# another replica's start on PostgreSQL's catalog).
FOLLOWER_ENV = {"POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "4", "CREATE_TABLE": "false"}


class FollowerRunner(ProjectionRunner[Any, Any]):
    """The library's ProjectionRunner, for a projection (and view) made already."""

    def __init__(
        self, *, application_class: type[Any], projection: Projection[Any], env: dict[str, str]
    ) -> None:
        # What ProjectionRunner.__init__ does (eventsourcing is pinned), minus making
        # a view and a projection of its own.
        self.view = projection.view
        self.projection = projection
        BaseProjectionRunner.__init__(
            self,
            projection=projection,
            application_class=application_class,
            tracking_recorder=projection.view,
            topics=projection.topics,
            env=env,
        )


class Followers:
    """Every (application, projection) pair this server follows, started and stopped together.

    `start`'s `on_failure` hears of a follower that stopped with an error (its name).
    """

    def __init__(
        self, followed: list[tuple[type[Any], Projection[Any]]], env: dict[str, str]
    ) -> None:
        self.followed = followed
        self.env = env | FOLLOWER_ENV
        self.on_failure: Callable[[str], None] = lambda name: None
        self.runners: list[FollowerRunner] = []
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return bool(self.runners)

    def start(self, on_failure: Callable[[str], None]) -> None:
        with self._lock:
            if self.runners:
                return
            self.on_failure = on_failure
            try:
                for application_class, projection in self.followed:
                    runner = FollowerRunner(
                        application_class=application_class, projection=projection, env=self.env
                    )
                    self.runners.append(runner)
                    runner.__enter__()  # enters its subscription: events start to flow
                    threading.Thread(
                        target=self._watch, args=(runner,), daemon=True,
                        name=f"follow-{projection.name}",
                    ).start()
            except BaseException:
                self._stop_all()
                raise

    def stop(self) -> None:
        with self._lock:
            self._stop_all()

    def _stop_all(self) -> None:
        runners, self.runners = self.runners, []
        for runner in runners:
            try:
                runner.__exit__(None, None, None)  # closes its application, not the view
            except Exception:
                log.exception("the %s follower had failed", runner.projection.name)

    def _watch(self, runner: FollowerRunner) -> None:
        """A follower that dies is reported, loudly (unless we stopped it)."""
        try:
            runner.run_forever()
        except Exception:
            if runner in self.runners:
                log.exception("the %s follower stopped", runner.projection.name)
                self.on_failure(runner.projection.name)
