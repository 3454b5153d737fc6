"""Waiting on empty queues with a bounded number of Redis connections, whatever the queue count.

Verk's shape (one blocking fetch per queue) holds one connection per idle queue: 500 queues
would hold 500 connections and exhaust a client pool, starving the heartbeat. Here a manager
whose queue is empty asks the process's :class:`Waiter`:

* **Blocking slots.** With no more queues than ``blocking`` (16) slots, every queue blocks on
  its own ``BLMOVE`` as before (a job pushed to it starts within a round trip). With more, the
  slots go to the busy queues: a queue blocks only while it is *hot* (its last wait got a job)
  and a slot is free; a blocking wait that ends empty makes it cold again.
* **One poller for the rest.** Every ``poll_interval`` (50 ms) one ``lua/fetch_many.lua`` call
  moves at most one job from each polled queue into its in-progress list, atomically, and
  wakes those managers (which then fetch the rest of the batch as usual); a queue that got a
  job this way is hot. The latency cost, for polled (cold) queues only: a job waits up to one
  poll interval (25 ms on average) before it starts. The script checks every queue with one
  ``EXISTS`` first, so polling idle queues costs Redis two commands per interval (40 a second)
  for any number of queues.
* **Gated round trips.** :attr:`Waiter.gate` bounds the fetch, acknowledge and reconcile round
  trips in flight at once (``round_trips``, 32), so busy queues cannot exhaust the pool either.
  Connections used for fetching: at most ``blocking + round_trips + 1``, never the queue count;
  the heartbeat, scheduler and acker always find one.

A job moved by the poller for a manager that stopped waiting meanwhile is never lost: it sits in
that process's in-progress list, which the manager's reconcile (or shutdown's requeue, or orphan
recovery) pushes back to the queue.

Keys touched: ``queue:<q>``, ``inprogress:<q>:<identity>`` of the waiting queues.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from verk_compat.lua import script
from verk_compat.worker.backoff import Backoff

__all__ = ["Waiter", "Waiting"]

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Waiting:
    """One polled wait: the queue's keys, its deadline and the future its manager awaits."""

    queue_key: str
    inprogress_key: str
    deadline: float
    future: asyncio.Future[bytes | None] = field(repr=False)


class Waiter:
    """Shared by every manager of one worker process (see the module docstring)."""

    def __init__(
        self,
        redis: Redis,
        *,
        blocking: int = 16,
        poll_interval: float = 0.05,
        round_trips: int = 32,
        hot_timeout: float = 0.5,
        polled_timeout: float = 30.0,
    ) -> None:
        if blocking < 0 or round_trips < 1 or poll_interval <= 0:
            raise ValueError("blocking >= 0, round_trips >= 1 and poll_interval > 0 expected")
        self.redis = redis
        self.blocking = blocking
        self.poll_interval = poll_interval
        #: A contended blocking wait ends (and the queue turns cold) after this many seconds.
        self.hot_timeout = hot_timeout
        #: A polled wait ends empty after this long (the manager's housekeeping runs then);
        #: :meth:`release` ends it at once when the manager pauses or stops.
        self.polled_timeout = polled_timeout
        #: Bounds fetch/ack/reconcile round trips in flight (Fetcher uses it).
        self.round_trips = round_trips
        self.gate = asyncio.Semaphore(round_trips)
        #: Queues served by the process (more than ``blocking``: slots are contended).
        self.queue_count = 0
        self._blocked = 0
        #: Queues whose last wait got a job (they get the blocking slots when contended).
        self._hot: set[str] = set()
        self._waiting: list[Waiting] = []
        self._kick = asyncio.Event()

    @property
    def connections(self) -> int:
        """The most connections fetching can hold at once (blocking, round trips, poller)."""
        return self.blocking + self.round_trips + 1

    async def wait(self, fetcher: Any, timeout: float) -> bytes | None:
        """One payload of ``fetcher``'s queue moved into its in-progress list, or None once
        ``timeout`` seconds passed with the queue empty."""
        contended = self.queue_count > self.blocking
        may_block = not contended or fetcher.queue_key in self._hot
        if may_block and self._blocked < self.blocking:
            return await self._block(
                fetcher, min(timeout, self.hot_timeout) if contended else timeout
            )
        return await self._poll(fetcher, max(timeout, self.polled_timeout))

    def release(self, queue_key: str) -> None:
        """End the polled wait of ``queue_key`` now, empty (its manager pauses or stops)."""
        for waiting in [w for w in self._waiting if w.queue_key == queue_key]:
            self._resolve(waiting, None)

    async def _block(self, fetcher: Any, timeout: float) -> bytes | None:
        self._blocked += 1
        try:
            raw: bytes | None = await fetcher.wait_one(timeout)
        finally:
            self._blocked -= 1
        if raw is None:
            self._hot.discard(fetcher.queue_key)  # idle for a whole wait: let a busier one block
        else:
            self._hot.add(fetcher.queue_key)
        return raw

    async def _poll(self, fetcher: Any, timeout: float) -> bytes | None:
        loop = asyncio.get_running_loop()
        waiting = Waiting(
            fetcher.queue_key, fetcher.inprogress_key, loop.time() + timeout, loop.create_future()
        )
        self._waiting.append(waiting)
        self._kick.set()
        try:
            raw = await waiting.future
        finally:
            if waiting in self._waiting:
                self._waiting.remove(waiting)
        if raw is not None:
            self._hot.add(fetcher.queue_key)
        return raw

    async def run(self) -> None:
        """The poll loop: one ``fetch_many`` per interval while any queue is polled."""
        backoff = Backoff()
        while True:
            if not self._waiting:
                self._kick.clear()
                await self._kick.wait()
            try:
                await self._poll_once()
                backoff.reset()
            except (RedisError, OSError) as exc:
                # The moves may have run; the managers' reconcile brings strays back.
                log.warning("queue poll failed (%s); retrying in %.1fs", exc, backoff.delay)
                await backoff.sleep()
                continue
            await asyncio.sleep(self.poll_interval)

    async def _poll_once(self) -> None:
        batch = list(self._waiting)
        keys = [w.queue_key for w in batch] + [w.inprogress_key for w in batch]
        async with self.gate:
            reply = await script("fetch_many").acall(self.redis, keys, [])
        found = dict(zip(reply[::2], reply[1::2], strict=True))
        now = asyncio.get_running_loop().time()
        for index, waiting in enumerate(batch, start=1):
            raw = found.get(index)
            if raw is not None or now >= waiting.deadline:
                self._resolve(waiting, raw)

    def _resolve(self, waiting: Waiting, raw: bytes | None) -> None:
        if waiting in self._waiting:
            self._waiting.remove(waiting)
        if not waiting.future.done():
            waiting.future.set_result(raw)
