"""Gauges read from Redis at scrape time: what Sidekiq Web's dashboard shows.

* ``verk_queue_size{queue}``, ``verk_queue_latency_seconds{queue}``
* ``verk_set_size{set}`` for ``schedule``, ``retry``, ``dead``
* ``verk_process_busy{identity}``, ``verk_process_concurrency{identity}`` (every live process,
  Ruby or Python), ``verk_busy_slots`` (their sum of busy)
* ``verk_processed_total``, ``verk_failed_total``: the global Sidekiq counters.

Keys read: ``queues``, ``queue:<q>`` (LLEN, LINDEX -1), ``schedule``, ``retry``, ``dead``
(ZCARD), ``processes``, ``<identity>`` (HMGET), ``stat:processed``, ``stat:failed``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, make_asgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from redis import Redis

from verk_compat.api import ProcessSet, Queue, Stats
from verk_compat.codec.job import now
from verk_compat.keys import Keys

__all__ = ["RedisCollector", "metrics_app", "redis_registry"]


class RedisCollector(Collector):
    """Reads the numbers on each scrape (a few pipelines; no state kept between scrapes)."""

    def __init__(self, redis: Redis, keys: Keys | None = None, prefix: str = "verk") -> None:
        self.redis = redis
        self.keys = keys or Keys()
        self.prefix = prefix

    def collect(self) -> Iterator[Any]:
        p = self.prefix
        stats = Stats(self.redis, self.keys)
        yield CounterMetricFamily(f"{p}_processed", "stat:processed", value=stats.processed)
        yield CounterMetricFamily(f"{p}_failed", "stat:failed", value=stats.failed)
        sets = GaugeMetricFamily(f"{p}_set_size", "Jobs per sorted set.", labels=["set"])
        sets.add_metric(["schedule"], stats.scheduled_size)
        sets.add_metric(["retry"], stats.retry_size)
        sets.add_metric(["dead"], stats.dead_size)
        yield sets
        yield from self._queues()
        yield from self._processes()

    def _queues(self) -> Iterator[Any]:
        p = self.prefix
        size = GaugeMetricFamily(f"{p}_queue_size", "Jobs waiting.", labels=["queue"])
        latency = GaugeMetricFamily(
            f"{p}_queue_latency_seconds", "Age of the oldest job.", labels=["queue"]
        )
        stamp = now()
        for queue in Queue.all(self.redis, self.keys):
            size.add_metric([queue.name], queue.size())
            latency.add_metric([queue.name], max(0.0, queue.latency(stamp)))
        yield size
        yield latency

    def _processes(self) -> Iterator[Any]:
        p = self.prefix
        busy = GaugeMetricFamily(f"{p}_process_busy", "Jobs running.", labels=["identity"])
        slots = GaugeMetricFamily(f"{p}_process_concurrency", "Job slots.", labels=["identity"])
        total = 0
        for process in ProcessSet(self.redis, self.keys):
            busy.add_metric([process.identity], process.busy)
            slots.add_metric([process.identity], process.concurrency)
            total += process.busy
        yield busy
        yield slots
        yield GaugeMetricFamily(f"{p}_busy_slots", "Jobs running in all processes.", value=total)


def redis_registry(redis: Redis, keys: Keys | None = None) -> CollectorRegistry:
    """A registry holding a :class:`RedisCollector` only."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector(redis, keys))
    return registry


def metrics_app(redis: Redis, keys: Keys | None = None) -> Any:
    """An ASGI app serving the Redis gauges in the Prometheus text format."""
    return make_asgi_app(registry=redis_registry(redis, keys))
