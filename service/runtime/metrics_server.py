"""The /metrics endpoint: Prometheus' text format over plain HTTP, on its own port.

It shows the process-wide metrics (service/runtime/metrics.py) and, read at scrape time,
how far this server's projection is behind the event store. A port that is taken
is logged as an error and the service serves on without /metrics: metrics must
never keep the API down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any
from wsgiref.simple_server import WSGIServer

from eventsourcing.application import Application
from eventsourcing.persistence import TrackingRecorder
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from service.runtime import metrics

LAG_COUNT_LIMIT = 10_000  # a scrape reads at most this many events to count the lag
LAG_PAGE = 1_000
log = logging.getLogger("secretsync.metrics")


class ProjectionLag(Collector):
    """Events of the projection's topics in the store that its view has not applied yet.

    Counted, not subtracted: positions are shared with events the projection does
    not follow (name claims; on SQLite the source's events too), as in the health check.
    """

    def __init__(self, app: Application[Any], view: TrackingRecorder, projection: Any) -> None:
        self.app = app
        self.view = view
        self.projection = projection

    def collect(self) -> Iterable[Metric]:
        name = self.projection.name
        try:
            position = self.view.max_tracking_id(self.app.name) or 0
            behind = self._count_after(position)
        except Exception as error:  # storage down: the health check says so; skip the gauges
            log.warning("projection lag unknown: %s", type(error).__name__)
            return
        lag = GaugeMetricFamily(
            "secretsync_projection_lag_events",
            f"Events in the store not yet applied to the view (counted up to "
            f"{LAG_COUNT_LIMIT}), by projection.",
            labels=["projection"],
        )
        lag.add_metric([name], behind)
        tracked = GaugeMetricFamily(
            "secretsync_projection_position",
            "Notification id of the last event the view applied, by projection.",
            labels=["projection"],
        )
        tracked.add_metric([name], position)
        yield from (lag, tracked)

    def _count_after(self, position: int) -> int:
        recorder, topics = self.app.recorder, self.projection.topics
        counted = 0
        while counted < LAG_COUNT_LIMIT:
            page = recorder.select_notifications(
                start=position, limit=LAG_PAGE, topics=topics, inclusive_of_start=False
            )
            if not page:
                break
            counted += len(page)
            position = page[-1].id
        return min(counted, LAG_COUNT_LIMIT)


class MetricsEndpoint:
    """Serves /metrics on `listen` ("host:port"; "" is off) between start() and stop()."""

    def __init__(self, listen: str, *collectors: Collector) -> None:
        self.listen = listen
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(metrics.SHARED)
        for collector in collectors:
            self.registry.register(collector)
        self.port = 0
        self._http: tuple[WSGIServer, threading.Thread] | None = None

    def start(self) -> int:
        """The port it serves on (0 when off or when the port is taken)."""
        if not self.listen:
            return 0
        host, port = split_listen(self.listen)
        try:
            self._http = start_http_server(port, host, registry=self.registry)
        except OSError as error:
            log.error("metrics: cannot listen on %s (%s); serving without /metrics",
                      self.listen, error.strerror or type(error).__name__)  # fmt: skip
            return 0
        self.port = self._http[0].server_port
        log.info("metrics on http://%s:%s/metrics", host, self.port)
        return self.port

    def stop(self) -> None:
        if self._http is not None:
            server, thread = self._http
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            self._http = None


def split_listen(listen: str) -> tuple[str, int]:
    """ "127.0.0.1:9464", "[::1]:9464" or ":9464" (every address) -> (host, port)."""
    host, _, port = listen.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"SECRET_SYNC_METRICS_LISTEN must be host:port, not {listen!r}")
    return host.strip("[]") or "0.0.0.0", int(port)
