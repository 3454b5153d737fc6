"""``Stats``: the dashboard numbers, read the way ``Sidekiq::Stats`` reads them (docs/wire.md §3.5).

One pipeline reads the fast stats (counters, set sizes, the default queue's oldest job); a
second reads each live process's ``busy`` and each queue's length. ``history`` MGETs the
daily counters.

Keys touched: ``stat:processed``, ``stat:failed`` (GET), ``schedule``, ``retry``, ``dead``
(ZCARD), ``processes`` (SCARD, SSCAN), ``<identity>`` (HGET busy), ``queues`` (SSCAN),
``queue:*`` (SCAN), ``queue:<q>`` (LLEN, LINDEX -1 of ``default``), ``stat:processed:YYYY-MM-DD``
and ``stat:failed:YYYY-MM-DD`` (MGET).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from redis import Redis

from verk_compat.api.queue import Queue
from verk_compat.api.records import Base
from verk_compat.api.values import DayStat, as_int, day_range, history_rows, payload_latency
from verk_compat.codec.job import now
from verk_compat.keys import Keys

__all__ = ["Stats"]


class Stats(Base):
    """A snapshot of the counters, read when built (call :meth:`refresh` to re-read).

    Attributes:
        processed: ``stat:processed``: every execution, failures included.
        failed: ``stat:failed``.
        scheduled_size: Jobs in ``schedule``.
        retry_size: Jobs in ``retry``.
        dead_size: Jobs in ``dead``.
        processes_size: SCARD of ``processes``.
        default_queue_latency: Seconds the oldest job of ``default`` has waited.
        workers_size: Jobs running (sum of each process's ``busy``); ``busy`` is the same.
        enqueued: Jobs waiting in every queue (``queues``, and ``queue:*`` lists: Verk's).
        queues: Queue name -> length, longest first (``Stats#queues``).
    """

    def __init__(self, redis: Redis, keys: Keys | None = None) -> None:
        super().__init__(redis, keys)
        self.processed = self.failed = 0
        self.scheduled_size = self.retry_size = self.dead_size = self.processes_size = 0
        self.workers_size = self.enqueued = 0
        self.default_queue_latency = 0.0
        self.queues: dict[str, int] = {}
        self.refresh()

    @property
    def busy(self) -> int:
        """Same as :attr:`workers_size`."""
        return self.workers_size

    def refresh(self) -> None:
        """Re-read every number (two pipelines, plus the SSCANs of the slow stats)."""
        self._fetch_fast()
        self._fetch_slow()

    def _fetch_fast(self) -> None:
        k = self.keys
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(k.stat_processed)
        pipe.get(k.stat_failed)
        pipe.zcard(k.schedule)
        pipe.zcard(k.retry)
        pipe.zcard(k.dead)
        pipe.scard(k.processes)
        pipe.lindex(k.queue("default"), -1)
        replies: list[Any] = pipe.execute()
        self.processed, self.failed = as_int(replies[0]), as_int(replies[1])
        self.scheduled_size, self.retry_size, self.dead_size = map(int, replies[2:5])
        self.processes_size = int(replies[5])
        self.default_queue_latency = payload_latency(replies[6], now())

    def _fetch_slow(self) -> None:
        k = self.keys
        processes = [_text(p) for p in self.redis.sscan_iter(k.processes)]
        names = Queue.names(self.redis, k)
        pipe = self.redis.pipeline(transaction=False)
        for identity in processes:
            pipe.hget(k.process(identity), "busy")
        for name in names:
            pipe.llen(k.queue(name))
        replies: list[Any] = pipe.execute()
        self.workers_size = sum(as_int(r) for r in replies[: len(processes)])
        lengths = [int(r) for r in replies[len(processes) :]]
        self.enqueued = sum(lengths)
        pairs = sorted(zip(names, lengths, strict=True), key=lambda p: (-p[1], p[0]))
        self.queues = dict(pairs)

    def history(self, days: int, start: _dt.date | None = None) -> list[DayStat]:
        """Processed/failed per UTC day, ``start`` (today) first, going back ``days`` days."""
        dates = day_range(start or _dt.datetime.now(_dt.UTC).date(), days)
        pipe = self.redis.pipeline(transaction=False)
        pipe.mget([self.keys.stat_processed_day(d) for d in dates])
        pipe.mget([self.keys.stat_failed_day(d) for d in dates])
        processed, failed = pipe.execute()
        return history_rows(dates, processed, failed)

    def summary(self) -> dict[str, Any]:
        """Plain JSON-ready numbers."""
        return {
            "processed": self.processed,
            "failed": self.failed,
            "scheduled_size": self.scheduled_size,
            "retry_size": self.retry_size,
            "dead_size": self.dead_size,
            "processes_size": self.processes_size,
            "workers_size": self.workers_size,
            "enqueued": self.enqueued,
            "default_queue_latency": self.default_queue_latency,
        }


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
