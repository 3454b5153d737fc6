"""Run one fetched job: decode, resolve, middleware, call, then acknowledge or fail.

A payload that cannot be decoded is moved untouched to ``dead`` and removed from the in-progress
list in one script, never lost. A job that raises gets Sidekiq's retry decision
(:mod:`verk_compat.retry`) applied by ``lua/fail.lua``: LREM from in-progress and ZADD ``retry``
or ``dead`` (trimmed) atomically. ``async def`` jobs run on the event loop, plain functions in a
bounded thread pool (:mod:`verk_compat.threads`). Cancellation (shutdown) neither acks nor
fails: the job stays in progress and shutdown pushes it back to its queue.

Keys touched: ``inprogress:<q>:<identity>``, ``retry``, ``dead`` (and, via the acker, the stat
keys).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from .app import App, Resolved, UnknownJob
from .codec import Job, Profile, now
from .errors import InvalidJob
from .events import JobFailed, JobFinished, JobStarted
from .fetch import Acker
from .keys import Keys
from .middleware import JobContext, run_chain
from .retry import DEAD_MAX_JOBS, DEAD_TIMEOUT, Dead, Decision, Discard, Retry, next_attempt
from .scripts import script
from .stats import Stats
from .threads import SyncPool

__all__ = ["Processor", "Running"]

log = logging.getLogger(__name__)

#: What the heartbeat's ``<identity>:work`` hash shows per running job: queue, raw, run_at.
Running = dict[int, tuple[str, bytes, int]]


class Processor:
    """Runs jobs for every manager of one worker process."""

    def __init__(
        self,
        app: App,
        redis: Redis,
        keys: Keys,
        acker: Acker,
        stats: Stats,
        pool: SyncPool,
        *,
        profile: Profile = "sidekiq7",
        rng: random.Random | None = None,
    ) -> None:
        self.app = app
        self.redis = redis
        self.keys = keys
        self.acker = acker
        self.stats = stats
        self.pool = pool
        self.profile = profile
        self.rng = rng or random.Random()
        self.running: Running = {}
        self._next_tid = 0

    async def process(self, queue: str, inprogress_key: str, raw: bytes) -> None:
        """Run ``raw`` (already in ``inprogress_key``) to its end: ack, retry, dead or drop."""
        try:
            job = Job.decode(raw)
        except InvalidJob as exc:
            await self._bury(inprogress_key, raw, exc)
            return
        self._next_tid += 1
        tid = self._next_tid
        started = time.time()
        self.running[tid] = (queue, raw, int(started))
        try:
            await self._run(job, queue, raw, started, inprogress_key)
        finally:
            del self.running[tid]

    async def _run(
        self, job: Job, queue: str, raw: bytes, started: float, inprogress_key: str
    ) -> None:
        logging_on = log.isEnabledFor(logging.INFO)
        if logging_on:
            log.info("start jid=%s class=%s queue=%s", job.jid, job.class_name, queue)
        events = self.app.events
        if events:
            events.emit(JobStarted(job, queue, started))
        resolved: Resolved | None = None
        try:
            resolved = self.app.resolve(job.class_name, _function(job))
            await self._invoke(resolved, job, queue, raw)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._failed(job, queue, raw, inprogress_key, exc, resolved, started)
            return
        await self.acker.ack(inprogress_key, raw)
        self.stats.processed += 1
        if logging_on:
            ms = (time.time() - started) * 1000
            log.info("done jid=%s class=%s queue=%s ms=%.1f", job.jid, job.class_name, queue, ms)
        if events:
            events.emit(JobFinished(job, queue, started, time.time()))

    async def _invoke(self, resolved: Resolved, job: Job, queue: str, raw: bytes) -> None:
        if not self.app.middleware:
            await self._call(resolved, job.args)
            return
        ctx = JobContext(job, queue, raw)
        await run_chain(self.app.middleware, ctx, lambda: self._call(resolved, ctx.job.args))

    async def _call(self, resolved: Resolved, args: list[Any]) -> None:
        if resolved.is_async:
            await resolved.call(*args)
        else:
            await self.pool.run(resolved.call, *args)

    async def _failed(
        self,
        job: Job,
        queue: str,
        raw: bytes,
        inprogress_key: str,
        exc: Exception,
        resolved: Resolved | None,
        started: float,
    ) -> None:
        spec = resolved.spec if resolved else None
        decision = next_attempt(
            job,
            exc,
            queue=queue,
            now=now(),
            rng=self.rng,
            path="global" if isinstance(exc, UnknownJob) else "local",
            default_retry=spec.retry if spec else True,
            retry_in=spec.retry_in if spec else None,
        )
        log.warning(
            "fail jid=%s class=%s queue=%s ms=%.1f error=%s: %s -> %s",
            job.jid,
            job.class_name,
            queue,
            (time.time() - started) * 1000,
            type(exc).__name__,
            exc,
            type(decision).__name__.lower(),
        )
        await self._apply(inprogress_key, raw, decision)
        self.stats.processed += 1
        self.stats.failed += 1
        self.acker.wake()
        if self.app.events:
            self.app.events.emit(JobFailed(job, queue, started, time.time(), exc))

    async def _apply(self, inprogress_key: str, raw: bytes, decision: Decision) -> None:
        """Run ``lua/fail.lua`` for ``decision``, retrying while Redis is unreachable."""
        stamp = now()
        if isinstance(decision, Retry):
            keys = [inprogress_key, self.keys.retry]
            args: list[Any] = [raw, "retry", decision.at, decision.payload.encode(self.profile)]
        elif isinstance(decision, Dead):
            keys = [inprogress_key, self.keys.dead]
            args = [raw, "dead", stamp, decision.payload.encode(self.profile)]
        else:
            assert isinstance(decision, Discard)
            keys = [inprogress_key, self.keys.dead]
            args = [raw, "drop", 0, b""]
        await self._fail_script(keys, [*args, stamp - DEAD_TIMEOUT, DEAD_MAX_JOBS])

    async def _bury(self, inprogress_key: str, raw: bytes, exc: Exception) -> None:
        log.error("undecodable payload moved to dead set: %s: %r", exc, raw[:200])
        stamp = now()
        keys = [inprogress_key, self.keys.dead]
        await self._fail_script(
            keys, [raw, "dead", stamp, raw, stamp - DEAD_TIMEOUT, DEAD_MAX_JOBS]
        )

    async def _fail_script(self, keys: list[str], args: list[Any]) -> None:
        delay = 0.1
        while True:
            try:
                await script("fail").acall(self.redis, keys, args)
                return
            except (RedisError, OSError) as exc:
                # The job stays in progress meanwhile, so nothing is lost while we wait.
                log.warning("recording a failure failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)


def _function(job: Job) -> str | None:
    """Verk's optional ``function`` key (kept by the codec in ``extra``)."""
    raw = job.extra.get("function") if job.extra else None
    if raw is None:
        return None
    value = msgspec.json.decode(raw)
    return value if isinstance(value, str) else None
