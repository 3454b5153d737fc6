"""The worker process: managers, acker, heartbeat, scheduler and orphan recovery together.

Startup: first heartbeat (so this identity is alive before it owns any job), orphan recovery,
then one :class:`Manager` per queue. Shutdown, as Sidekiq does it: stop fetching, wait up to
``shutdown_timeout`` for jobs in flight, flush the acks, push every job still in progress back to
the pop end of its queue, leave ``processes``. TSTP (or Web's Quiet) stops fetching only.
A second SIGINT exits at once; the in-progress lists keep the jobs for orphan recovery.
TTIN logs the running jobs and every task and thread stack (:mod:`verk_compat.worker.signals`).

A worker built from a URL gets a Redis client that cannot hang on a half-open connection
(:mod:`verk_compat.worker.redis_client`), and a thread that keeps its process hash alive while
a job blocks the event loop (:mod:`verk_compat.worker.keepalive`).

Queues can be added, removed, paused and resumed while the worker runs (Verk's dynamic queues):
:meth:`Worker.add_queue`, :meth:`Worker.remove_queue`, :meth:`Worker.pause_queue`,
:meth:`Worker.resume_queue`. Pausing stops fetching (running jobs finish; a job fetched in the
same instant goes back to its queue) and emits ``QueuePaused``; resuming emits ``QueueRunning``.
The heartbeat's ``info`` follows every change.

The cron poller (:mod:`verk_compat.worker.cron`) runs beside the scheduler, except in burst mode.

Keys touched: everything the parts touch (``queue:<q>``, ``inprogress:<q>:<identity>``,
``cron_jobs``, ``cron_job:*``, ``retry``, ``schedule``, ``dead``, ``queues``, ``processes``,
``<identity>``, ``<identity>:work``, ``<identity>-signals``, ``verk:orphan_lock``, ``stat:*``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import time
from collections.abc import Coroutine, Iterable, Mapping
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

import verk_compat.worker.signals as _signals
from verk_compat.codec.cron_entry import CronEntry
from verk_compat.codec.job import Profile
from verk_compat.keys import Keys
from verk_compat.redis_url import async_client
from verk_compat.worker.app import App
from verk_compat.worker.backoff import Backoff
from verk_compat.worker.counters import Stats
from verk_compat.worker.cron import POLL_INTERVAL, CronPoller, CronStore
from verk_compat.worker.events import Event, QueuePaused, QueueRunning
from verk_compat.worker.fetch import Acker, Fetcher
from verk_compat.worker.heartbeat import Heartbeat, make_identity
from verk_compat.worker.keepalive import KeepAlive
from verk_compat.worker.manager import Manager, cancel_and_wait
from verk_compat.worker.orphans import recover_orphans
from verk_compat.worker.processor import Processor
from verk_compat.worker.redis_client import (
    SOCKET_TIMEOUT_MARGIN,
    check_socket_timeout,
    client_options,
)
from verk_compat.worker.scheduler import Scheduler
from verk_compat.worker.sync_pool import SyncPool
from verk_compat.worker.timeouts import check_timeout
from verk_compat.worker.unknown_jobs import Policy, UnknownJobs, worker_policy
from verk_compat.worker.waiter import Waiter

__all__ = ["SOCKET_TIMEOUT_MARGIN", "Worker", "client_options"]

log = logging.getLogger(__name__)


class Worker:
    """Runs ``app``'s jobs from ``queues`` (name -> concurrency) until stopped.

    ``job_timeout`` (seconds) fails any job running longer with ``JobTimeout``, unless the job
    was registered with its own ``timeout`` (:mod:`verk_compat.worker.timeouts`).
    """

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
        cron_interval: float = POLL_INTERVAL,
        orphan_interval: float = 30.0,
        block_timeout: float = 2.0,
        profile: Profile = "sidekiq7",
        tag: str = "",
        cron_entries: Iterable[CronEntry] | None = None,
        lifecycle: bool = True,
        job_timeout: float | None = None,
        unknown_jobs: Policy | None = None,
    ) -> None:
        if not queues:
            raise ValueError("a worker needs at least one queue")
        #: Default seconds a job may run (a job's own ``timeout`` wins; None or 0: no limit).
        self.job_timeout = check_timeout(job_timeout, "job_timeout")
        self.app = app
        self.lifecycle = lifecycle
        self.queues = dict(queues)
        if redis is None:
            redis = async_client(redis_url, **client_options(block_timeout))
        check_socket_timeout(redis, block_timeout)
        self.redis = redis
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
            app,
            self.redis,
            self.keys,
            self.acker,
            self.stats,
            self.pool,
            profile=profile,
            job_timeout=self.job_timeout,
            unknown_jobs=UnknownJobs(self.redis, self.keys, worker_policy(unknown_jobs, burst)),
        )
        self.heartbeat = Heartbeat(
            self.redis,
            self.keys,
            self.identity,
            self.queues,
            ttl=heartbeat_ttl,
            tag=tag,
            profile=profile,
        )
        self.block_timeout = block_timeout
        #: Queues paused with :meth:`pause_queue` (quiet is separate: it pauses every queue).
        self.paused: set[str] = set()
        self._fetch_tasks: dict[str, asyncio.Task[Any]] = {}
        self._started = False
        self.scheduler = Scheduler(self.redis, self.keys, interval=poll_interval, profile=profile)
        #: sidekiq-cron's poller (``cron_interval`` 0 turns it off, as ``cron_poll_interval``).
        self.cron = CronPoller(
            CronStore(self.redis, self.keys, profile),
            app.cron_entries.values() if cron_entries is None else cron_entries,
            interval=cron_interval,
        )
        self.waiter = Waiter(self.redis)
        self.managers = {q: self._new_manager(q, n) for q, n in self.queues.items()}
        self.waiter.queue_count = len(self.managers)
        self._stop = asyncio.Event()
        self._interrupts = 0
        self.heartbeat_ttl = heartbeat_ttl
        key = self.keys.process(self.identity)
        self.keepalive = KeepAlive(self.identity, key, heartbeat_ttl, beat_interval)

    @property
    def busy(self) -> int:
        return sum(m.busy for m in self.managers.values())

    def stop(self) -> None:
        """Ask for a graceful shutdown (what TERM and the first INT do). The managers start
        no more jobs from now on (as Sidekiq): only running jobs get the grace period."""
        for manager in self.managers.values():
            manager.stop()
        self.processor.unknown_jobs.stop()  # a slot pausing after a hand-back ends now
        self._stop.set()

    def set_quiet(self) -> None:
        """Stop fetching new jobs; jobs in flight finish (TSTP, Web's Quiet)."""
        self.quiet = True
        for manager in self.managers.values():
            manager.pause()

    async def run(self) -> None:
        """Run until :meth:`stop` (or, in burst mode, until every queue is drained), between
        the app's startup and shutdown hooks (:mod:`verk_compat.worker.lifecycle`)."""
        if not self.lifecycle:  # the hooks run around several workers (ShardedWorker)
            await self._run()
            return
        context = self.app.context
        context.identity, context.redis = self.identity, self.redis
        async with self.app.lifespan():
            await self._run()

    async def _run(self) -> None:
        await self._first_beat()
        self.keepalive.start(self.redis)
        await self._recover()
        self._acker_task = self._spawn(self.acker.run())
        background = [
            self._acker_task,
            self._spawn(self._heartbeat_loop()),
            self._spawn(self._orphan_loop()),
            self._spawn(self.waiter.run()),
        ]
        if not self.burst:
            background.append(self._spawn(self.scheduler.run()))
            if self.cron.interval > 0:
                background.append(self._spawn(self.cron.run()))
        for name in list(self.managers):
            self._start_fetcher(name)
        fetchers = list(self._fetch_tasks.values())
        self._started = True
        stopper = self._spawn(self._stop.wait())
        try:
            if self.burst:
                drained = asyncio.gather(*fetchers)
                await asyncio.wait([stopper, drained], return_when=asyncio.FIRST_COMPLETED)
            else:
                await stopper
        finally:
            self._started = False
            await self._shutdown(list(self._fetch_tasks.values()), background)
            stopper.cancel()

    def install_signal_handlers(self) -> None:
        """TERM: graceful stop; INT: graceful stop, a second INT exits at once; TSTP: quiet."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop)
        loop.add_signal_handler(signal.SIGINT, self._on_interrupt)
        loop.add_signal_handler(signal.SIGTSTP, self.set_quiet)
        loop.add_signal_handler(signal.SIGTTIN, self.dump_state)

    def dump_state(self) -> None:
        """TTIN: log every running job and every asyncio task and thread stack."""
        _signals.log_dump(self.identity, self.processor.running)

    # Dynamic queues (Verk's add_queue / remove_queue / pause_queue / resume_queue).

    def add_queue(self, name: str, concurrency: int = 25) -> None:
        """Serve queue ``name`` with ``concurrency`` slots from now on (at once if running)."""
        if name in self.managers:
            raise ValueError(f"queue {name!r} is already served by {self.identity}")
        manager = self._new_manager(name, concurrency)
        self.managers[name] = manager
        self.waiter.queue_count = len(self.managers)
        self.queues[name] = concurrency
        grow = getattr(self.pool, "grow", None)
        if grow is not None:
            grow(concurrency)
        if self.quiet:
            manager.pause()
        self._queues_changed()
        log.info("queue %s added (concurrency %d)", name, concurrency)
        if self._started:
            self._start_fetcher(name)

    async def remove_queue(self, name: str, timeout: float | None = None) -> None:
        """Stop serving ``name``: fetch nothing more, wait up to ``timeout`` (default: the
        shutdown timeout) for its running jobs, push what is left back to the queue."""
        manager = self._manager(name)
        manager.pause()
        self.queues.pop(name, None)
        self.paused.discard(name)
        self._queues_changed()
        task = self._fetch_tasks.pop(name, None)
        manager.stop()
        if task is not None:
            await cancel_and_wait([task])
        await manager.drain(self.shutdown_timeout if timeout is None else timeout)
        # If this raises, the manager stays listed so that shutdown still requeues its jobs.
        moved = await manager.fetcher.requeue_all()
        del self.managers[name]
        self.waiter.queue_count = len(self.managers)
        log.info("queue %s removed (%d unfinished jobs pushed back)", name, moved)

    def pause_queue(self, name: str) -> None:
        """Stop fetching from ``name``; its running jobs finish. Emits ``QueuePaused``."""
        manager = self._manager(name)
        if name in self.paused:
            return
        self.paused.add(name)
        manager.pause()
        self._queues_changed()
        log.info("queue %s paused", name)
        self._emit(QueuePaused(name, time.time()))

    def resume_queue(self, name: str) -> None:
        """Fetch from ``name`` again (unless the whole process is quiet). Emits ``QueueRunning``."""
        manager = self._manager(name)
        if name not in self.paused:
            return
        self.paused.discard(name)
        if not self.quiet:
            manager.resume()
        self._queues_changed()
        log.info("queue %s resumed", name)
        self._emit(QueueRunning(name, time.time()))

    def _manager(self, name: str) -> Manager:
        manager = self.managers.get(name)
        if manager is None or name not in self.queues:
            raise KeyError(f"queue {name!r} is not served by {self.identity}")
        return manager

    def _queues_changed(self) -> None:
        self.heartbeat.set_queues(self.queues, self.paused)

    def _start_fetcher(self, name: str) -> None:
        self._fetch_tasks[name] = self._spawn(self.managers[name].run())
        # QueueRunning for a queue added or resumed at run time (not for the startup queues).
        if self._started and name not in self.paused and not self.quiet:
            self._emit(QueueRunning(name, time.time()))

    def _emit(self, event: Event) -> None:
        if self.app.events:
            self.app.events.emit(event)

    def _on_interrupt(self) -> None:
        self._interrupts += 1
        if self._interrupts > 1:
            log.warning("second interrupt: exiting now; in-progress jobs stay protected")
            os._exit(1)
        log.info("interrupt: shutting down (interrupt again to exit at once)")
        self.stop()

    def _new_manager(self, name: str, concurrency: int) -> Manager:
        fetcher = Fetcher(self.redis, self.keys, name, self.identity, gate=self.waiter.gate)
        return Manager(
            name,
            concurrency,
            fetcher,
            self.processor,
            burst=self.burst,
            block_timeout=self.block_timeout,
            reconcile_interval=self.orphan_interval,
            waiter=self.waiter,
        )

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        return asyncio.create_task(coro)

    async def _shutdown(self, fetchers: list[asyncio.Task[Any]], background: list[Any]) -> None:
        log.info("shutting down %s: %d jobs in flight", self.identity, self.busy)
        self.keepalive.stop()
        self.quiet = True
        for manager in self.managers.values():
            manager.stop()
        # Not a bare cancel + gather: a cancellation can be swallowed (see manager.py).
        await cancel_and_wait(fetchers)
        await asyncio.gather(*(m.drain(self.shutdown_timeout) for m in self.managers.values()))
        # The acker ends after its current flush rather than being cancelled in the middle.
        self.acker.stop()
        await asyncio.wait({self._acker_task}, timeout=5.0)
        await cancel_and_wait(background)
        await self._final_flush()
        self.pool.shutdown()

    async def _final_flush(self) -> None:
        """Acks and stats, then requeue what is left in progress, then leave ``processes``."""
        try:
            while True:
                if not await self.acker.flush():
                    raise ConnectionError("acknowledgements could not be sent")
                if not self.acker.pending:
                    break
            for manager in self.managers.values():
                moved = await manager.fetcher.requeue_all()
                if moved:
                    log.warning("requeued %d unfinished jobs to %s", moved, manager.queue)
            await self.heartbeat.clear()
        except (RedisError, OSError) as exc:
            # Jobs stay in the in-progress lists; orphan recovery brings them back later.
            log.error("shutdown could not reach Redis (%s); in-progress jobs stay protected", exc)

    async def _beat(self) -> None:
        try:
            signal_name = await self.heartbeat.beat(self.busy, self.quiet, self.processor.running)
        except (RedisError, OSError) as exc:
            self.keepalive.beat_error = exc
            raise
        self.keepalive.beaten()
        if signal_name is not None:
            _signals.dispatch(signal_name, self)

    async def _recover(self) -> None:
        try:
            await recover_orphans(self.redis, self.keys, self.identity)
        except (RedisError, OSError) as exc:
            log.warning("orphan recovery failed (%s)", exc)

    async def _first_beat(self) -> None:
        """Beat before owning any job; while Redis is unreachable, say so and keep trying."""
        backoff = Backoff()
        failed_since: float | None = None
        while True:
            try:
                await self._beat()
                if failed_since is not None:
                    down = time.monotonic() - failed_since
                    log.warning("Redis reachable again: first heartbeat after %.1fs", down)
                return
            except (RedisError, OSError) as exc:
                if self._stop.is_set():
                    return
                failed_since = failed_since or time.monotonic()
                log.warning(
                    "Redis unreachable at start (%s); retrying in %.1fs", exc, backoff.delay
                )
                await backoff.sleep()

    async def _heartbeat_loop(self) -> None:
        failed_since: float | None = None
        while True:
            await asyncio.sleep(self.beat_interval)
            try:
                await self._beat()
            except (RedisError, OSError) as exc:
                log.warning(
                    "Redis unreachable: the heartbeat could not be written (%s); retrying", exc
                )
                failed_since = failed_since or time.monotonic()
                continue
            except Exception:
                # A bug must not end the heartbeat for good (Quiet and Stop would stop working).
                log.exception("heartbeat crashed; retrying")
                continue
            if failed_since is not None:
                down = time.monotonic() - failed_since
                log.warning("Redis reachable again: heartbeat back after %.1fs", down)
                failed_since = None

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
