"""Run one fetched job: decode, resolve, middleware, call, then report success or fail it.

:meth:`Processor.process` returns True when the job succeeded: its manager then acknowledges it
(with its next fetch, ``lua/fetch_ack.lua``, or through the :class:`~verk_compat.fetch.Acker`),
so a job leaves its in-progress list only after it finished. A payload that cannot be decoded
is moved untouched to ``dead`` and removed from the in-progress list in one script, never
lost. A job that raises gets Sidekiq's retry decision
(:mod:`verk_compat.retry`) applied by ``lua/fail.lua``: LREM from in-progress and ZADD ``retry``
or ``dead`` (trimmed) atomically. ``async def`` jobs run on the event loop, plain functions in a
bounded thread pool (:mod:`verk_compat.threads`). Cancellation (shutdown) neither acks nor
fails: the job stays in progress and shutdown pushes it back to its queue.

The two log lines per job (``start`` and ``done``, with jid, class, queue and ms) are built
without the usual per-record overhead (:class:`_JobLog`), but go through the logger's normal
level check, filters and handlers.

Keys touched: ``inprogress:<q>:<identity>``, ``retry``, ``dead`` (and, via the acker, the stat
keys).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
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
        self._resolved: dict[str, Resolved] = {}
        self._log = _JobLog(log)

    async def process(self, queue: str, inprogress_key: str, raw: bytes) -> bool:
        """Run ``raw`` (already in ``inprogress_key``) to its end.

        Returns True if the job succeeded (the caller must acknowledge it), False if it was
        already moved to retry/dead or dropped by ``lua/fail.lua``.
        """
        try:
            job = Job.decode(raw)
        except InvalidJob as exc:
            await self._bury(inprogress_key, raw, exc)
            return False
        self._next_tid += 1
        tid = self._next_tid
        started = time.time()
        self.running[tid] = (queue, raw, int(started))
        try:
            return await self._run(job, queue, raw, started, inprogress_key)
        finally:
            del self.running[tid]

    async def _run(
        self, job: Job, queue: str, raw: bytes, started: float, inprogress_key: str
    ) -> bool:
        jlog = self._log
        logging_on = jlog.enabled()
        if logging_on:
            jlog.info(started, "start jid=%s class=%s queue=%s", (job.jid, job.class_name, queue))
        events = self.app.events
        if events:
            events.emit(JobStarted(job, queue, started))
        clock = time.perf_counter()
        resolved: Resolved | None = None
        try:
            resolved = self._resolve(job, raw)
            if self.app.middleware:
                await self._invoke(resolved, job, queue, raw)
            elif resolved.is_async:
                await resolved.call(*job.args)
            else:
                await self.pool.run(resolved.call, *job.args)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._failed(job, queue, raw, inprogress_key, exc, resolved, started)
            return False
        self.stats.processed += 1
        if logging_on or events:
            ms = (time.perf_counter() - clock) * 1000
            finished = started + ms / 1000
            if logging_on:
                jlog.info(
                    finished,
                    "done jid=%s class=%s queue=%s ms=%.1f",
                    (job.jid, job.class_name, queue, ms),
                )
            if events:
                events.emit(JobFinished(job, queue, started, finished))
        return True

    def _resolve(self, job: Job, raw: bytes) -> Resolved:
        """The registered callable; plain functions are looked up once per class name."""
        if b'"function"' in raw:
            function = _function(job)
            if function is not None:
                return self.app.resolve(job.class_name, function)
        name = job.class_name
        resolved = self._resolved.get(name)
        if resolved is None:
            resolved = self.app.resolve(name)
            if not resolved.spec.is_class:
                # A class is instantiated per job (as Sidekiq does); a function is reused.
                self._resolved[name] = resolved
        return resolved

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


class _JobLog:
    """The per-job log lines without the stdlib's per-record cost.

    ``Logger.info`` builds each record with ``LogRecord.__init__`` (time conversions, path
    splitting, thread and process lookups) and, unless disabled, a stack walk for the caller.
    Here a record is a copy of a template made once (same attributes as a real record), with the
    message, arguments and times filled in, then handed to ``Logger.handle``: the level check,
    filters, propagation and handlers are the normal ones. A custom log record factory is
    respected by falling back to ``Logger.info``.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._template: dict[str, Any] | None = None
        self._thread = 0

    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def info(self, created: float, msg: str, args: tuple[Any, ...]) -> None:
        """Log ``msg % args`` at INFO as of ``created`` (epoch seconds); call from one thread."""
        if logging.getLogRecordFactory() is not logging.LogRecord:
            self.logger.info(msg, *args)
            return
        template = self._template
        if template is None or self._thread != threading.get_ident():
            template = self._template = self._make_template()
        record = logging.LogRecord.__new__(logging.LogRecord)
        record.__dict__.update(template)
        record.msg = msg
        record.args = args
        record.created = created
        record.msecs = int((created - int(created)) * 1000) + 0.0
        record.relativeCreated = (created - _START) * 1000
        self.logger.handle(record)

    def _make_template(self) -> dict[str, Any]:
        self._thread = threading.get_ident()
        record = self.logger.makeRecord(
            self.logger.name, logging.INFO, __file__, 0, "", (), None, "_run"
        )
        template = dict(record.__dict__)
        if template.get("process") is not None:
            template["process"] = os.getpid()
        return template


#: logging's start time, for ``relativeCreated``.
_START: float = getattr(logging, "_startTime", time.time())
