"""Reliable fetch: move jobs into a private in-progress list, acknowledge by exact bytes.

:class:`Fetcher` (one per queue) moves payloads atomically from the pop end of ``queue:<q>``
into ``inprogress:<q>:<identity>``: many at once with ``lua/fetch.lua`` when several slots are
free, or one with a blocking ``BLMOVE`` (2 s, like Sidekiq's BRPOP) when the queue is empty.
:class:`Acker` batches acknowledgements (``lua/ack.lua``: ``LREM inprogress -1 <raw>`` for
each) and the stats counters into one pipeline per flush; a job's slot is released only after
its ack reached Redis, so the in-progress list never holds more than the concurrency plus one
batch.

Keys touched: ``queue:<q>``, ``inprogress:<q>:<identity>``, ``retry``, ``dead`` and the stat
keys (through :mod:`verk_compat.stats`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .keys import Keys
from .scripts import script
from .stats import Stats

__all__ = ["BLOCK_TIMEOUT", "Acker", "Fetcher"]

log = logging.getLogger(__name__)

#: Seconds a BLMOVE waits on an empty queue; Sidekiq's BRPOP timeout.
BLOCK_TIMEOUT = 2.0


class Fetcher:
    """Moves jobs of one queue into this process's in-progress list for that queue."""

    def __init__(self, redis: Redis, keys: Keys, queue: str, identity: str) -> None:
        self.redis = redis
        self.queue = queue
        self.queue_key = keys.queue(queue)
        self.inprogress_key = keys.inprogress(queue, identity)

    async def fetch(self, limit: int) -> list[bytes]:
        """Up to ``limit`` payloads (oldest first) moved by one script; [] if the queue is empty."""
        if limit <= 0:
            return []
        moved = await script("fetch").acall(
            self.redis, [self.queue_key, self.inprogress_key], [limit]
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

    async def requeue_all(self) -> int:
        """Move every payload still in progress back to the pop end of the queue, in order."""
        moved: int = await script("requeue").acall(
            self.redis, [self.inprogress_key, self.queue_key], []
        )
        return moved


class Acker:
    """Batches acknowledgements and stats into one pipeline per flush.

    ``ack`` returns once the LREM has run, so callers may free the job's slot afterwards.
    """

    def __init__(self, redis: Redis, stats: Stats, *, max_batch: int = 500) -> None:
        self.redis = redis
        self.stats = stats
        self.max_batch = max_batch
        self._pending: list[tuple[str, bytes, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._backoff = 0.1

    async def ack(self, inprogress_key: str, raw: bytes) -> None:
        """Acknowledge ``raw``: it is removed from ``inprogress_key`` by the next flush."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((inprogress_key, raw, future))
        self._wake.set()
        await future

    def wake(self) -> None:
        """Ask for a flush (e.g. stats changed with nothing to acknowledge)."""
        self._wake.set()

    async def run(self) -> None:
        """Flush whenever there is something to flush; back off while Redis is down."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            # One loop turn lets jobs finishing together join the same batch.
            await asyncio.sleep(0)
            if not await self.flush():
                await asyncio.sleep(self._backoff)
                self._backoff = min(self._backoff * 2, 5.0)
                self._wake.set()
            else:
                self._backoff = 0.1

    async def flush(self) -> bool:
        """Send pending acks and stats; False (everything kept for later) if Redis failed."""
        batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
        if self._pending:
            self._wake.set()
        counts = self.stats.take()
        if not batch and counts == (0, 0):
            return True
        by_key: dict[str, list[bytes]] = {}
        for key, raw, _ in batch:
            by_key.setdefault(key, []).append(raw)
        pipe: Any = self.redis.pipeline(transaction=False)
        for key, raws in by_key.items():
            # One ack.lua call per in-progress list: one command, not one LREM per job.
            await script("ack").acall(pipe, [key], raws)
        self.stats.queue_into(pipe, counts)
        try:
            await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("ack flush failed (%s); retrying", exc)
            self._pending[:0] = batch
            self.stats.give_back(counts)
            return False
        for _, _, future in batch:
            if not future.done():
                future.set_result(None)
        return True
