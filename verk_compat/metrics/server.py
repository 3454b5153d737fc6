"""The worker's metrics endpoint: ``verk-compat worker --metrics-port N``.

Serves :class:`~verk_compat.metrics.jobs.JobMetrics` (fed by the app's events) and the
:class:`~verk_compat.metrics.queues.RedisCollector` gauges on ``http://<host>:N/metrics``
from a daemon thread (prometheus-client's server).

Keys touched: see :mod:`verk_compat.metrics.queues` (reads only).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import start_http_server

from verk_compat.keys import Keys
from verk_compat.metrics.jobs import JobMetrics
from verk_compat.metrics.queues import RedisCollector
from verk_compat.redis_url import sync_client
from verk_compat.worker.events import EventManager

__all__ = ["serve_worker_metrics"]


def serve_worker_metrics(
    events: EventManager,
    port: int,
    *,
    redis_url: str | None,
    namespace: str = "",
    host: str = "127.0.0.1",
) -> tuple[Any, JobMetrics]:
    """Start the endpoint; returns ``(server, metrics)`` (``server.shutdown()`` stops it)."""
    metrics = JobMetrics().attach(events)
    client = sync_client(redis_url, socket_connect_timeout=5, socket_timeout=5)
    metrics.registry.register(RedisCollector(client, Keys(namespace)))
    server, _thread = start_http_server(port, addr=host, registry=metrics.registry)
    return server, metrics
