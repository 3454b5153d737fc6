"""One manager per queue (Verk's QueueManager + WorkersManager): concurrency and fetch loop.

Each queue has its own slot count and its own fetch loop, so a slow queue cannot starve another.
The loop fetches as many jobs as there are free slots in one script, blocks on ``BLMOVE`` when
the queue is empty, and starts one task per job. It survives Redis outages: it logs, backs off
and tries again. In burst mode it ends once the queue is empty and nothing is in flight.

Keys touched: ``queue:<q>``, ``inprogress:<q>:<identity>`` (through :class:`Fetcher`).
"""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError

from .fetch import Fetcher
from .processor import Processor

__all__ = ["Manager"]

log = logging.getLogger(__name__)


class Manager:
    """Fetches and runs the jobs of one queue with at most ``concurrency`` in flight."""

    def __init__(
        self,
        queue: str,
        concurrency: int,
        fetcher: Fetcher,
        processor: Processor,
        *,
        burst: bool = False,
        block_timeout: float = 2.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"queue {queue!r}: concurrency must be at least 1")
        self.queue = queue
        self.concurrency = concurrency
        self.fetcher = fetcher
        self.processor = processor
        self.burst = burst
        self.block_timeout = block_timeout
        self.tasks: set[asyncio.Task[None]] = set()
        self._slot = asyncio.Event()
        self._running = asyncio.Event()
        self._running.set()

    @property
    def busy(self) -> int:
        """Jobs in flight."""
        return len(self.tasks)

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        """Stop fetching (jobs in flight finish)."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    async def run(self) -> None:
        """The fetch loop; returns only in burst mode (queue drained), else runs until cancelled."""
        delay = 0.1
        while True:
            await self._running.wait()
            free = self.concurrency - len(self.tasks)
            if free <= 0:
                await self._wait_slot()
                continue
            try:
                raws = await self._fetch(free)
            except (RedisError, OSError) as exc:
                log.warning(
                    "queue %s: fetch failed (%s); retrying in %.1fs", self.queue, exc, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.1
            if raws is None:
                return
            for raw in raws:
                self._start(raw)

    async def _fetch(self, free: int) -> list[bytes] | None:
        """Jobs to start now; None when a burst run is finished."""
        raws = await self.fetcher.fetch(free)
        if raws:
            return raws
        if self.burst:
            if not self.tasks:
                return None
            # Jobs still running may fail back into the queue's retry path; check again later.
            await self._wait_slot()
            return []
        raw = await self.fetcher.wait_one(self.block_timeout)
        return [raw] if raw is not None else []

    async def _wait_slot(self) -> None:
        self._slot.clear()
        await self._slot.wait()

    def _start(self, raw: bytes) -> None:
        coro = self.processor.process(self.queue, self.fetcher.inprogress_key, raw)
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self._slot.set()
        if not task.cancelled() and task.exception() is not None:
            # The processor handles job errors itself; this is a bug or a lost Redis mid-ack.
            log.error("queue %s: job task crashed", self.queue, exc_info=task.exception())

    async def drain(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for jobs in flight, then cancel the rest."""
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout)
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=1.0)
