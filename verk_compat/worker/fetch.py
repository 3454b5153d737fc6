"""Reliable fetch: move jobs into a private in-progress list, acknowledge by exact bytes.

:class:`Fetcher` (one per queue) moves payloads atomically from the pop end of ``queue:<q>``
into ``inprogress:<q>:<identity>``: on the hot path with ``lua/fetch_ack.lua``, which first
acknowledges the jobs that finished since the last call (``LREM inprogress -1 <raw>`` each) and
then moves as many jobs as there are free slots, in one round trip; or one job with a blocking
``BLMOVE`` (2 s, like Sidekiq's BRPOP) when the queue is empty. :class:`Acker` acknowledges
jobs that finish while their manager is blocked, paused or stopping (``lua/ack.lua``, one call
per in-progress list) and flushes the stats counters (at most every second, and at shutdown)
in one pipeline per flush.

A fetch whose reply is lost (the connection drops after Redis ran the script or the ``BLMOVE``)
leaves its jobs in the in-progress list without the manager knowing them: :meth:`Fetcher.reconcile`
(``lua/reconcile.lua``) moves every payload of the list that the manager does not hold back to
the pop end of the queue, counting identical payloads one for one. :meth:`Acker.holding` is the
manager's view of the acknowledgements still on their way.

Keys touched: ``queue:<q>``, ``inprogress:<q>:<identity>`` and the stat keys (through
:mod:`verk_compat.worker.counters`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from verk_compat.keys import Keys
from verk_compat.lua import script
from verk_compat.worker.backoff import Backoff
from verk_compat.worker.counters import Stats

__all__ = ["BLOCK_TIMEOUT", "Acker", "Fetcher"]

log = logging.getLogger(__name__)

#: Seconds a BLMOVE waits on an empty queue; Sidekiq's BRPOP timeout.
BLOCK_TIMEOUT = 2.0


class Fetcher:
    """Moves jobs of one queue into this process's in-progress list for that queue."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        queue: str,
        identity: str,
        *,
        gate: asyncio.Semaphore | None = None,
    ) -> None:
        self.redis = redis
        #: Bounds this process's round trips in flight (see :mod:`verk_compat.worker.waiter`).
        self.gate = gate or contextlib.nullcontext()
        self.queue = queue
        self.queue_key = keys.queue(queue)
        self.inprogress_key = keys.inprogress(queue, identity)

    async def fetch(self, limit: int) -> list[bytes]:
        """Up to ``limit`` payloads (oldest first) moved by one script; [] if the queue is empty."""
        if limit <= 0:
            return []
        return await self._fetch_ack(limit, [])

    async def fetch_ack(self, limit: int, acks: list[bytes]) -> list[bytes]:
        """Acknowledge ``acks`` (finished jobs), then move up to ``limit`` payloads, atomically."""
        if not acks and limit <= 0:
            return []
        return await self._fetch_ack(limit, acks)

    async def _fetch_ack(self, limit: int, acks: list[bytes]) -> list[bytes]:
        async with self.gate:
            moved = await script("fetch_ack").acall(
                self.redis, [self.queue_key, self.inprogress_key], [max(limit, 0), *acks]
            )
        return list(moved or [])

    async def wait_one(self, timeout: float = BLOCK_TIMEOUT) -> bytes | None:
        """Block up to ``timeout`` seconds for one payload (BLMOVE RIGHT LEFT)."""
        # redis-py types the timeout as int; BLMOVE takes fractional seconds (Redis >= 6).
        raw: Any = await self.redis.blmove(
            self.queue_key,
            self.inprogress_key,
            timeout,  # type: ignore[arg-type]
            "RIGHT",
            "LEFT",
        )
        return raw if isinstance(raw, bytes) else None

    async def reconcile(self, held: list[bytes]) -> int:
        """Move every payload of the in-progress list beyond the copies in ``held`` (what this
        process still holds: ready, running, finished and not yet acknowledged) back to the pop
        end of the queue, atomically; returns the number moved. The caller must not have a fetch
        in flight for this queue."""
        async with self.gate:
            moved: int = await script("reconcile").acall(
                self.redis, [self.inprogress_key, self.queue_key], held
            )
        return int(moved)

    async def requeue_all(self) -> int:
        """Move every payload still in progress back to the pop end of the queue, in order."""
        async with self.gate:
            moved: int = await script("requeue").acall(
                self.redis, [self.inprogress_key, self.queue_key], []
            )
        return moved


def _raise_first_error(replies: list[Any]) -> None:
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply


class Acker:
    """Acknowledges finished jobs and flushes stats in one pipeline per flush.

    :meth:`ack` and :meth:`ack_many` return once the LREMs have run; :meth:`add` does not wait.
    Stats are flushed with the acknowledgements, or on their own every ``stats_interval``
    seconds (Sidekiq flushes its counters with the heartbeat).
    """

    def __init__(
        self, redis: Redis, stats: Stats, *, max_batch: int = 500, stats_interval: float = 1.0
    ) -> None:
        self.redis = redis
        self.stats = stats
        self.max_batch = max_batch
        self.stats_interval = stats_interval
        self._pending: list[tuple[str, list[bytes], asyncio.Future[None] | None]] = []
        #: Batches being sent right now (their acks may or may not have run yet).
        self._sending: list[list[tuple[str, list[bytes], asyncio.Future[None] | None]]] = []
        self._count = 0
        self._wake = asyncio.Event()
        self._backoff = Backoff()
        self._stopping = False
        self._stats_refused = False

    @property
    def pending(self) -> int:
        """Acknowledgements not yet sent."""
        return self._count

    async def ack(self, inprogress_key: str, raw: bytes) -> None:
        """Acknowledge ``raw``: it is removed from ``inprogress_key`` by the next flush."""
        await self.ack_many(inprogress_key, [raw])

    async def ack_many(self, inprogress_key: str, raws: list[bytes]) -> None:
        """Acknowledge ``raws`` and wait until the flush that removed them has run."""
        if not raws and not self._pending:
            return
        # With no raws this is a barrier: it resolves once everything queued before is sent.
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((inprogress_key, raws, future))
        self._count += len(raws)
        self._wake.set()
        await future

    def holding(self, inprogress_key: str) -> list[bytes]:
        """The payloads of ``inprogress_key`` whose acknowledgement is pending or being sent."""
        held: list[bytes] = []
        for batch in (self._pending, *self._sending):
            for key, raws, _ in batch:
                if key == inprogress_key:
                    held.extend(raws)
        return held

    def add(self, inprogress_key: str, raws: list[bytes]) -> None:
        """Acknowledge ``raws`` with the next flush, without waiting for it."""
        if raws:
            self._pending.append((inprogress_key, raws, None))
            self._count += len(raws)
            self._wake.set()

    def wake(self) -> None:
        """Ask for a flush (e.g. stats changed with nothing to acknowledge)."""
        self._wake.set()

    def stop(self) -> None:
        """Make :meth:`run` return after one last flush (not cancelled in the middle of one)."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Flush whenever there is something to flush; back off while Redis is down."""
        loop = asyncio.get_running_loop()
        while not self._stopping:
            if not self._wake.is_set():
                # Stats are flushed at least every stats_interval even with nothing to ack.
                timer = loop.call_later(self.stats_interval, self._wake.set)
                try:
                    await self._wake.wait()
                finally:
                    timer.cancel()
            self._wake.clear()
            # One loop turn lets jobs finishing together join the same batch.
            await asyncio.sleep(0)
            if not await self.flush():
                if self._stopping:
                    return
                await self._backoff.sleep()
                self._wake.set()
            else:
                self._backoff.reset()

    async def _queue_stats(self, pipe: Any, counts: tuple[int, int]) -> None:
        if counts != (0, 0):
            await script("stats").acall(pipe, *self.stats.script_args(counts))

    def _stats_sent(self, counts: tuple[int, int], replies: list[Any]) -> None:
        """Keep the counts for the next flush if Redis refused them (e.g. OOM at maxmemory:
        INCRBY may grow memory, the acks only free it, so the acks stand)."""
        refused = next((r for r in replies if isinstance(r, Exception)), None)
        if refused is None:
            if self._stats_refused:
                log.warning("stats counters written again")
            self._stats_refused = False
            return
        self.stats.give_back(counts)
        if not self._stats_refused:
            log.warning("stats counters refused (%s); kept until Redis takes them", refused)
        self._stats_refused = True

    async def flush(self) -> bool:
        """Send pending acks and stats; False (everything kept for later) if Redis failed."""
        batch: list[tuple[str, list[bytes], asyncio.Future[None] | None]] = []
        size = 0
        while self._pending and size < self.max_batch:
            item = self._pending.pop(0)
            batch.append(item)
            size += len(item[1])
        self._count -= size
        if self._pending:
            self._wake.set()
        counts = self.stats.take()
        if not batch and counts == (0, 0):
            return True
        by_key: dict[str, list[bytes]] = {}
        for key, raws, _ in batch:
            if raws:
                by_key.setdefault(key, []).extend(raws)
        if by_key or counts != (0, 0):
            self._sending.append(batch)
            try:
                # ``async with`` resets the pipeline (gives its connection back) whatever happens.
                pipe: Any
                async with self.redis.pipeline(transaction=False) as pipe:
                    for key, raws in by_key.items():
                        # One ack.lua call per in-progress list: one command, not one LREM per job.
                        await script("ack").acall(pipe, [key], raws)
                    await self._queue_stats(pipe, counts)
                    replies = await pipe.execute(raise_on_error=False)
                _raise_first_error(replies[: len(by_key)])
            except BaseException as exc:
                # Keep the acks for the next flush, also when cancelled: a lost ack would let
                # the final requeue bring back a finished job (acks are idempotent). Counts are
                # kept only if Redis failed: after a cancellation they may have been counted.
                self._pending[:0] = batch
                self._count += size
                if not isinstance(exc, (RedisError, OSError)):
                    raise
                self.stats.give_back(counts)
                log.warning("ack flush failed (%s); retrying", exc)
                return False
            finally:
                self._sending.remove(batch)
            self._stats_sent(counts, replies[len(by_key) :])
        for _, _, future in batch:
            if future is not None and not future.done():
                future.set_result(None)
        return True
