"""Prometheus metrics (optional extra ``metrics``, ``prometheus-client``).

* :class:`~verk_compat.metrics.jobs.JobMetrics`: per job class and queue, executions processed,
  failed and retried, and a duration histogram, fed by the worker's lifecycle events.
* :class:`~verk_compat.metrics.queues.RedisCollector`: read at scrape time from Redis, the same
  numbers Sidekiq Web shows (queue sizes and latency, set sizes, busy and total slots).

``verk-compat worker --metrics-port N`` serves both; the dashboard serves the Redis ones at
``/metrics`` (``create_app(metrics=True)``, ``verk-compat web --metrics``).

Keys touched: see :mod:`verk_compat.metrics.queues` (reads only).
"""

from __future__ import annotations

from verk_compat.metrics.jobs import JobMetrics
from verk_compat.metrics.queues import RedisCollector, metrics_app

__all__ = ["JobMetrics", "RedisCollector", "metrics_app"]
