"""One manager per queue (Verk's QueueManager + WorkersManager): concurrency and fetch loop.

Each queue has its own slot count and its own fetch loop, so a slow queue cannot starve another.
A manager runs ``concurrency`` long-lived slot coroutines (no task per job): fetched payloads go
on a local ready list, one idle slot is woken, and more only if a job actually waits (a slot
runs a job that never suspends and takes the next one at once). The fetch loop sends, in one
``lua/fetch_ack.lua`` round trip, the acknowledgements of the jobs that finished since its last
call and a fetch of as many jobs as there are free slots; it blocks on ``BLMOVE`` when the
queue is empty (jobs finishing meanwhile are acknowledged by the
:class:`~verk_compat.worker.fetch.Acker`).
A job is acknowledged only after it finished, and the in-progress list never holds more than
the concurrency plus the finished jobs of one batch. The loop survives Redis outages: it logs,
backs off and tries again. In burst mode it ends once the queue is empty and nothing is in
flight.

A fetch that failed with a connection error may still have run in Redis (the reply was lost):
its jobs sit in the in-progress list and nobody would run them until this process restarts
(orphan recovery skips live processes). So after a failed fetch, and also every
``reconcile_interval`` seconds (a command sent on a connection that timed out can still run
later, and a client handed in may retry commands by itself), the loop reconciles before it
fetches again: ``lua/reconcile.lua`` moves whatever the in-progress list holds beyond the
payloads this manager holds (ready, running, finished and not yet acknowledged, including the
acknowledgements the Acker is sending) back to the pop end of the queue. It runs in the fetch
loop, so no fetch of this queue is in flight meanwhile. A paused manager gives back the jobs of
a fetch that was under way with the same script.

As Sidekiq does, a pause or stop starts no more work at once: only running jobs get the grace
period. Slots take nothing from the ready list once :meth:`Manager.pause` or
:meth:`Manager.stop` was called; a paused fetch loop (and :meth:`Manager.drain`, once the fetch
loop has ended) drops the ready jobs and gives them back with the same script, to the pop end in
their original order.

Stopping does not rely on ``Task.cancel`` alone: on Python 3.11 ``asyncio.wait_for`` (which
redis-py uses to send every command when a socket timeout is set) can swallow a cancellation
that arrives as the send completes, and the loop would go on fetching. :meth:`Manager.stop`
sets a flag the loop checks after every await, and :func:`cancel_and_wait` cancels again until
the tasks are done.

Keys touched: ``queue:<q>``, ``inprogress:<q>:<identity>`` (through :class:`Fetcher`).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Iterable
from typing import Any

from redis.exceptions import RedisError

from verk_compat.worker.backoff import Backoff
from verk_compat.worker.fetch import Fetcher
from verk_compat.worker.processor import Processor
from verk_compat.worker.waiter import Waiter

__all__ = ["Manager", "cancel_and_wait"]

log = logging.getLogger(__name__)


async def cancel_and_wait(
    tasks: Iterable[asyncio.Future[Any]], timeout: float = 5.0, again_after: float = 0.5
) -> bool:
    """Cancel ``tasks`` and wait until they are done, cancelling again every ``again_after``
    seconds (a task may swallow a cancellation, see the module docstring; the pause leaves a
    cancelled task time to clean up, e.g. give its Redis connection back). True if all ended
    within ``timeout``."""
    pending = {t for t in tasks if not t.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while pending:
        left = deadline - loop.time()
        if left <= 0:
            return False
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=min(again_after, left))
    return True


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
        reconcile_interval: float = 30.0,
        waiter: Waiter | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"queue {queue!r}: concurrency must be at least 1")
        self.queue = queue
        self.concurrency = concurrency
        self.fetcher = fetcher
        self.processor = processor
        self.burst = burst
        self.block_timeout = block_timeout
        self.reconcile_interval = reconcile_interval
        #: Shares the blocking waits of many queues (None: this queue always blocks itself).
        self.waiter = waiter
        #: Fetched payloads no slot has started yet.
        self._ready: collections.deque[bytes] = collections.deque()
        #: Payloads of jobs that succeeded, not yet acknowledged.
        self._done: list[bytes] = []
        #: Jobs fetched and not finished (ready or running).
        self._inflight = 0
        #: The payload each slot is running (None when idle), by slot number.
        self._current: dict[int, bytes | None] = {}
        self._slot_numbers = 0
        #: Jobs that crashed the worker (a bug): left in progress until shutdown.
        self._crashed: list[bytes] = []
        #: Reconcile before the next fetch (a fetch failed; or paused with jobs to give back).
        self._reconcile_needed = False
        self._next_reconcile = 0.0
        self._idle: collections.deque[asyncio.Future[None]] = collections.deque()
        self._slots: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()
        self._running = asyncio.Event()
        self._running.set()
        self._stopping = False
        #: Start nothing from ``_ready`` (paused or stopping); the one flag the slots check.
        self._holding = False
        #: The fetch loop is running (drain gives the ready jobs back only once it ended).
        self._looping = False
        self._blocking = False
        self._rebalance_pending = False

    @property
    def busy(self) -> int:
        """Jobs in flight."""
        return self._inflight

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        """Stop fetching and starting jobs (running jobs finish; the fetch loop gives the
        fetched ones that did not start back to the queue)."""
        self._running.clear()
        self._holding = True
        self._changed.set()  # the fetch loop may wait for a job to finish: give back now
        if self.waiter is not None:
            self.waiter.release(self.fetcher.queue_key)

    def resume(self) -> None:
        self._running.set()
        if not self._stopping:
            self._holding = False
            self._wake(len(self._ready))

    def stop(self) -> None:
        """Make the fetch loop end at its next step (the caller also cancels it) and start no
        more jobs (:meth:`drain` gives the fetched ones back)."""
        self._stopping = True
        self._holding = True
        if self.waiter is not None:
            self.waiter.release(self.fetcher.queue_key)

    async def run(self) -> None:
        """The fetch loop; returns in burst mode (queue drained) or after :meth:`stop`."""
        self._looping = True
        try:
            await self._run()
        finally:
            self._looping = False

    async def _run(self) -> None:
        self._start_slots()
        loop = asyncio.get_running_loop()
        self._next_reconcile = loop.time() + self.reconcile_interval
        backoff = Backoff()
        while not self._stopping:
            self._drop_ready()
            due = self._reconcile_needed or loop.time() >= self._next_reconcile
            if due and not await self._reconcile(backoff):
                continue
            if not self._running.is_set():
                self._hand_off_acks()
                await self._running.wait()
                continue
            free = self.concurrency - self._inflight
            if await self._must_wait(free):
                continue
            acks, self._done = self._done, []
            try:
                raws = await self.fetcher.fetch_ack(free, acks)
                acks = []
                if not raws:
                    if self.burst:
                        if not self._inflight:
                            self._hand_off_acks()
                            return
                        # Jobs still running; check again when one finishes.
                        await self._wait_change()
                        continue
                    raws = await self._wait_one()
            except asyncio.CancelledError:
                # Shutdown cancelled the round trip: its acks may not have run. Keep them for
                # drain(), or the final requeue would bring back jobs that finished.
                self._done[:0] = acks
                raise
            except (RedisError, OSError) as exc:
                self._done[:0] = acks
                # The fetch may have run and only its reply been lost: reconcile first.
                self._reconcile_needed = True
                log.warning(
                    "queue %s: fetch failed (%s); retrying in %.1fs", self.queue, exc, backoff.delay
                )
                self._hand_off_acks()
                await backoff.sleep()
                continue
            backoff.reset()
            if not raws or self._stopping:
                # Stopping: fetched jobs stay in progress; shutdown pushes them back.
                continue
            if self.paused:
                # Paused while fetching (e.g. during a blocking wait): not held, so the
                # reconcile before the next step pushes them back to the pop end in order, as
                # Sidekiq requeues a job fetched after quiet.
                self._reconcile_needed = True
                continue
            self._dispatch(raws)

    def held(self) -> list[bytes]:
        """Every payload this manager holds: ready, running, finished and not acknowledged
        (here or in the Acker). Anything else in its in-progress list is a stray."""
        return [
            *self._ready,
            *(raw for raw in self._current.values() if raw is not None),
            *self._done,
            *self._crashed,
            *self.processor.acker.holding(self.fetcher.inprogress_key),
        ]

    async def _reconcile(self, backoff: Backoff) -> bool:
        """Push strays back to the queue (see the module docstring); False, after logging and
        backing off, if Redis failed."""
        try:
            moved = await self.fetcher.reconcile(self.held())
        except (RedisError, OSError) as exc:
            self._reconcile_needed = True
            log.warning(
                "queue %s: reconcile failed (%s); retrying in %.1fs", self.queue, exc, backoff.delay
            )
            self._hand_off_acks()
            await backoff.sleep()
            return False
        if moved:
            reason = "stopping" if self._stopping else "paused" if self.paused else ""
            log.log(
                logging.INFO if reason else logging.WARNING,
                "queue %s: pushed %d fetched jobs that were not running back to %s (%s)",
                self.queue,
                moved,
                self.fetcher.queue_key,
                reason or "a fetch reply was lost",
            )
        self._reconcile_needed = False
        self._next_reconcile = asyncio.get_running_loop().time() + self.reconcile_interval
        return True

    def _drop_ready(self) -> bool:
        """Paused or stopping: forget the jobs no slot started (True if any). No longer held,
        the next reconcile gives them back to the pop end of the queue in order (or shutdown's
        requeue, or orphan recovery)."""
        if not (self._holding and self._ready):
            return False
        self._inflight -= len(self._ready)
        self._ready.clear()
        self._reconcile_needed = True
        self._changed.set()
        return True

    async def _wait_one(self) -> list[bytes]:
        """Block on the empty queue; jobs finishing meanwhile are acked by the Acker."""
        self._hand_off_acks()
        self._blocking = True
        try:
            if self.waiter is None:
                raw = await self.fetcher.wait_one(self.block_timeout)
            else:
                raw = await self.waiter.wait(self.fetcher, self.block_timeout)
        finally:
            self._blocking = False
        return [raw] if raw is not None else []

    def _hand_off_acks(self) -> None:
        """Pending acknowledgements go to the Acker (this loop will not fetch soon)."""
        if self._done:
            acks, self._done = self._done, []
            self.processor.acker.add(self.fetcher.inprogress_key, acks)

    async def _must_wait(self, free: int) -> bool:
        """Wait (and say so) when no slot is free, or while fetching pauses because only
        classes this app does not know came lately (:mod:`verk_compat.worker.unknown_jobs`)."""
        if free <= 0:
            await self._wait_change()
            return True
        hold = self.processor.unknown_jobs.pause_left(self.queue)
        if hold > 0:
            self._hand_off_acks()
            await self.processor.unknown_jobs.pause(hold)
            return True
        return False

    async def _wait_change(self) -> None:
        """Wait until a job finishes."""
        self._changed.clear()
        await self._changed.wait()

    # -- slots --------------------------------------------------------------------------------

    def _start_slots(self) -> None:
        self._slots = [t for t in self._slots if not t.done()]
        while len(self._slots) < self.concurrency:
            self._slot_numbers += 1
            self._slots.append(asyncio.create_task(self._slot(self._slot_numbers)))

    def _dispatch(self, raws: list[bytes]) -> None:
        self._inflight += len(raws)
        self._ready.extend(raws)
        self._wake(1)
        if not self._rebalance_pending:
            self._rebalance_pending = True
            asyncio.get_running_loop().call_soon(self._rebalance)

    def _rebalance(self) -> None:
        # Runs after the woken slot's first step: jobs left means one of them is waiting.
        self._rebalance_pending = False
        if self._ready:
            self._wake(len(self._ready))

    def _wake(self, n: int) -> None:
        idle = self._idle
        while n > 0 and idle:
            waiter = idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                n -= 1

    async def _slot(self, number: int) -> None:
        ready = self._ready
        current = self._current
        current[number] = None
        process = self.processor.process
        queue = self.queue
        key = self.fetcher.inprogress_key
        loop = asyncio.get_running_loop()
        while True:
            if not ready or self._holding:
                waiter: asyncio.Future[None] = loop.create_future()
                self._idle.append(waiter)
                await waiter
                continue
            raw = ready.popleft()
            current[number] = raw
            ok = False
            try:
                ok = await process(queue, key, raw)
            except asyncio.CancelledError:
                # Neither acked nor failed: the job stays in progress and goes back to its queue.
                self._inflight -= 1
                self._changed.set()
                raise
            except Exception:
                # The processor handles job errors itself; this is a bug. The job stays in
                # progress, held (not a stray), until shutdown or orphan recovery requeues it.
                log.exception("queue %s: job crashed the worker", queue)
                self._crashed.append(raw)
            self._inflight -= 1
            current[number] = None
            if ok:
                self._done.append(raw)
                if self._blocking or self._stopping or not self._running.is_set():
                    self._hand_off_acks()
            self._changed.set()

    async def drain(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for jobs in flight, then cancel the rest; hand the
        acknowledgements of finished jobs to the Acker and wait (within the timeout) for them
        to reach Redis, so that requeueing what is left never brings back a finished job."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self.stop()
        # Jobs fetched and not started go back now, not after the grace period (reconcile only
        # once the fetch loop ended: no fetch in flight; else the final requeue does it).
        if self._drop_ready() and not self._looping:
            await self._reconcile(Backoff(first=0.0))
        while self._inflight > 0 and loop.time() < deadline:
            self._changed.clear()
            waiter = asyncio.ensure_future(self._changed.wait())
            await asyncio.wait({waiter}, timeout=deadline - loop.time())
            waiter.cancel()
        if not await cancel_and_wait(self._slots, timeout=2.0):
            log.error("queue %s: a job ignores cancellation", self.queue)
        self._slots = []
        self._current.clear()
        self._crashed.clear()
        self._ready.clear()
        self._inflight = 0
        acks, self._done = self._done, []
        # Also a barrier for acks handed to the Acker earlier (sent in order).
        flushed = asyncio.ensure_future(
            self.processor.acker.ack_many(self.fetcher.inprogress_key, acks)
        )
        await asyncio.wait({flushed}, timeout=max(deadline - loop.time(), 1.0))
