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
from redis.exceptions import ResponseError

from verk_compat.api.queue import Queue
from verk_compat.api.records import Base
from verk_compat.api.values import (
    DayStat,
    day_range,
    history_rows,
    payload_latency,
    read_int,
    shown,
    text,
    wire,
)
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
        problems: What could not be read, one line each (counted as 0 instead).
    """

    def __init__(self, redis: Redis, keys: Keys | None = None) -> None:
        super().__init__(redis, keys)
        self.processed = self.failed = 0
        self.scheduled_size = self.retry_size = self.dead_size = self.processes_size = 0
        self.workers_size = self.enqueued = 0
        self.default_queue_latency = 0.0
        self.queues: dict[str, int] = {}
        self.problems: list[str] = []
        self.refresh()

    @property
    def busy(self) -> int:
        """Same as :attr:`workers_size`."""
        return self.workers_size

    def refresh(self) -> None:
        """Re-read every number (two pipelines, plus the SSCANs of the slow stats)."""
        self.problems = []
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
        replies: list[Any] = pipe.execute(raise_on_error=False)
        names = ("processed", "failed", "schedule", "retry", "dead", "processes")
        counts = [self._count(name, reply) for name, reply in zip(names, replies, strict=False)]
        self.processed, self.failed = counts[0], counts[1]
        self.scheduled_size, self.retry_size, self.dead_size = counts[2:5]
        self.processes_size = counts[5]
        oldest = replies[6]
        if isinstance(oldest, ResponseError):
            self.problems.append(f"unreadable {k.queue('default')}: {oldest}")
            oldest = None
        self.default_queue_latency = payload_latency(oldest, now())

    def _count(self, name: str, reply: Any) -> int:
        """A counter or size reply; an error (the key has another type) or garbage is 0."""
        number = None if isinstance(reply, ResponseError) else read_int(reply)
        if number is None and reply is not None:
            self.problems.append(f"unreadable {name}: {reply}")
        return number or 0

    def _members(self, key: str) -> list[str]:
        try:
            return [text(m) for m in self.redis.sscan_iter(key)]
        except ResponseError as exc:
            self.problems.append(f"unreadable {key}: {exc}")
            return []

    def _fetch_slow(self) -> None:
        k = self.keys
        processes = self._members(k.processes)
        names = Queue.names(self.redis, k, self.problems)
        for name in (*processes, *names):
            if shown(name) != name:
                self.problems.append(f"unreadable name (not UTF-8): {shown(name)}")
        pipe = self.redis.pipeline(transaction=False)
        for identity in processes:
            pipe.hget(wire(k.process(identity)), "busy")
        for name in names:
            pipe.llen(wire(k.queue(name)))
        replies: list[Any] = pipe.execute(raise_on_error=False)
        busy = replies[: len(processes)]
        self.workers_size = sum(
            self._count(f"busy of {shown(i)}", r) for i, r in zip(processes, busy, strict=True)
        )
        lengths = [
            self._count(shown(k.queue(n)), r)
            for n, r in zip(names, replies[len(processes) :], strict=True)
        ]
        self.enqueued = sum(lengths)
        pairs = sorted(zip(map(shown, names), lengths, strict=True), key=lambda p: (-p[1], p[0]))
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
