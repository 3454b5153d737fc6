"""The worker process: managers, acker, heartbeat, scheduler and orphan recovery together.

Startup: first heartbeat (so this identity is alive before it owns any job), orphan recovery,
then one :class:`Manager` per queue. Shutdown, as Sidekiq does it: stop fetching, wait up to
``shutdown_timeout`` for jobs in flight, flush the acks, push every job still in progress back to
the pop end of its queue, leave ``processes``. TSTP (or Web's Quiet) stops fetching only.
A second SIGINT exits at once; the in-progress lists keep the jobs for orphan recovery.

Keys touched: everything the parts touch (``queue:<q>``, ``inprogress:<q>:<identity>``,
``retry``, ``schedule``, ``dead``, ``queues``, ``processes``, ``<identity>``,
``<identity>:work``, ``<identity>-signals``, ``verk:orphan_lock``, ``stat:*``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
from collections.abc import Coroutine, Mapping
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .app import App
from .codec import Profile
from .fetch import Acker, Fetcher
from .heartbeat import Heartbeat, make_identity
from .keys import Keys
from .manager import Manager
from .orphans import recover_orphans
from .processor import Processor
from .scheduler import Scheduler
from .stats import Stats
from .threads import SyncPool

__all__ = ["Worker"]

log = logging.getLogger(__name__)


class Worker:
    """Runs ``app``'s jobs from ``queues`` (name -> concurrency) until stopped."""

    def __init__(
        self,
        app: App,
        queues: Mapping[str, int],
        *,
        redis: Redis | None = None,
        redis_url: str | None = None,
        namespace: str = "",
        burst: bool = False,
        shutdown_timeout: float = 25.0,
        heartbeat_ttl: int = 60,
        beat_interval: float = 5.0,
        poll_interval: float | None = None,
        orphan_interval: float = 30.0,
        block_timeout: float = 2.0,
        profile: Profile = "sidekiq7",
        tag: str = "",
    ) -> None:
        if not queues:
            raise ValueError("a worker needs at least one queue")
        self.app = app
        self.queues = dict(queues)
        self.redis = redis or Redis.from_url(redis_url or os.environ.get("REDIS_URL", ""))
        self.keys = Keys(namespace)
        self.burst = burst
        self.shutdown_timeout = shutdown_timeout
        self.beat_interval = beat_interval
        self.orphan_interval = orphan_interval
        self.identity = make_identity()
        self.quiet = False
        self.stats = Stats(self.keys)
        self.pool = SyncPool(sum(self.queues.values()))
        self.acker = Acker(self.redis, self.stats)
        self.processor = Processor(
            app, self.redis, self.keys, self.acker, self.stats, self.pool, profile=profile
        )
        self.heartbeat = Heartbeat(
            self.redis, self.keys, self.identity, self.queues, ttl=heartbeat_ttl, tag=tag
        )
        self.scheduler = Scheduler(self.redis, self.keys, interval=poll_interval, profile=profile)
        self.managers = {
            q: Manager(
                q,
                n,
                Fetcher(self.redis, self.keys, q, self.identity),
                self.processor,
                burst=burst,
                block_timeout=block_timeout,
            )
            for q, n in self.queues.items()
        }
        self._stop = asyncio.Event()
        self._interrupts = 0

    @property
    def busy(self) -> int:
        return sum(m.busy for m in self.managers.values())

    def stop(self) -> None:
        """Ask for a graceful shutdown (what TERM and the first INT do)."""
        self._stop.set()

    def set_quiet(self) -> None:
        """Stop fetching new jobs; jobs in flight finish (TSTP, Web's Quiet)."""
        self.quiet = True
        for manager in self.managers.values():
            manager.pause()

    async def run(self) -> None:
        """Run until :meth:`stop` (or, in burst mode, until every queue is drained)."""
        await self._beat()
        await self._recover()
        background = [
            self._spawn(self.acker.run()),
            self._spawn(self._heartbeat_loop()),
            self._spawn(self._orphan_loop()),
        ]
        if not self.burst:
            background.append(self._spawn(self.scheduler.run()))
        fetchers = [self._spawn(m.run()) for m in self.managers.values()]
        stopper = self._spawn(self._stop.wait())
        try:
            if self.burst:
                drained = asyncio.gather(*fetchers)
                await asyncio.wait([stopper, drained], return_when=asyncio.FIRST_COMPLETED)
            else:
                await stopper
        finally:
            await self._shutdown(fetchers, background)
            stopper.cancel()

    def install_signal_handlers(self) -> None:
        """TERM: graceful stop; INT: graceful stop, a second INT exits at once; TSTP: quiet."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop)
        loop.add_signal_handler(signal.SIGINT, self._on_interrupt)
        loop.add_signal_handler(signal.SIGTSTP, self.set_quiet)

    def _on_interrupt(self) -> None:
        self._interrupts += 1
        if self._interrupts > 1:
            log.warning("second interrupt: exiting now; in-progress jobs stay protected")
            os._exit(1)
        log.info("interrupt: shutting down (interrupt again to exit at once)")
        self.stop()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        return asyncio.create_task(coro)

    async def _shutdown(self, fetchers: list[asyncio.Task[Any]], background: list[Any]) -> None:
        log.info("shutting down %s: %d jobs in flight", self.identity, self.busy)
        self.quiet = True
        for task in fetchers:
            task.cancel()
        await asyncio.gather(*fetchers, return_exceptions=True)
        await asyncio.gather(*(m.drain(self.shutdown_timeout) for m in self.managers.values()))
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await self._final_flush()
        self.pool.shutdown()

    async def _final_flush(self) -> None:
        """Acks and stats, then requeue what is left in progress, then leave ``processes``."""
        try:
            await self.acker.flush()
            await self.acker.flush()
            for manager in self.managers.values():
                moved = await manager.fetcher.requeue_all()
                if moved:
                    log.warning("requeued %d unfinished jobs to %s", moved, manager.queue)
            await self.heartbeat.clear()
        except (RedisError, OSError) as exc:
            # Jobs stay in the in-progress lists; orphan recovery brings them back later.
            log.error("shutdown could not reach Redis (%s); in-progress jobs stay protected", exc)

    async def _beat(self) -> None:
        signal_name = await self.heartbeat.beat(self.busy, self.quiet, self.processor.running)
        if signal_name == "TSTP":
            self.set_quiet()
        elif signal_name == "TERM":
            self.stop()

    async def _recover(self) -> None:
        try:
            await recover_orphans(self.redis, self.keys, self.identity)
        except (RedisError, OSError) as exc:
            log.warning("orphan recovery failed (%s)", exc)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.beat_interval)
            try:
                await self._beat()
            except (RedisError, OSError) as exc:
                log.warning("heartbeat failed (%s); retrying", exc)

    async def _orphan_loop(self) -> None:
        rng = random.Random()
        while True:
            # Jitter spreads the processes' attempts; the lock makes them take turns anyway.
            await asyncio.sleep(self.orphan_interval * (0.5 + rng.random()))
            await self._recover()

    async def aclose(self) -> None:
        """Close the Redis connection pool."""
        with contextlib.suppress(RedisError, OSError):
            await self.redis.aclose()
