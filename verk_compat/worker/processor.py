"""Run one fetched job: decode, resolve, middleware, call, then report success or fail it.

:meth:`Processor.process` returns True when the job succeeded: its manager then acknowledges it
(with its next fetch, ``lua/fetch_ack.lua``, or through the
:class:`~verk_compat.worker.fetch.Acker`), so a job leaves its in-progress list only after it
finished. A payload that cannot be decoded is moved untouched to ``dead`` and removed from the
in-progress list in one script, never lost. A job that raises anything (``SystemExit`` and
``KeyboardInterrupt`` included, as Sidekiq rescues ``Exception``) is failed by
:mod:`verk_compat.worker.failure`: Sidekiq's retry decision from the fetched bytes, applied by
``lua/fail.lua`` (LREM from in-progress and ZADD ``retry`` or ``dead`` atomically). A Verk job
(``args`` a JSON string) runs the same way and fails by Verk's rules, in Verk's format.
``async def`` jobs run on the event loop, plain functions in a bounded thread pool
(:mod:`verk_compat.worker.sync_pool`). Cancellation (shutdown) neither acks nor fails: the job
stays in progress and shutdown pushes it back to its queue. A job with a timeout (its
registration's or the worker's ``job_timeout``) runs under a
:class:`~verk_compat.worker.timeouts.Deadline` and fails with ``JobTimeout`` past it; a sync
job's thread, which cannot be stopped, keeps the job's slot until it returns.

The per-job log lines (``start``, ``done``, and ``fail`` with its traceback) are written by
:mod:`verk_compat.worker.job_log`, on this module's logger.

A job whose class the app does not know is handed back to its queue instead of failed when
the worker's policy says so (:mod:`verk_compat.worker.unknown_jobs`).

Keys touched: ``inprogress:<q>:<identity>``, ``retry``, ``dead``, ``queue:<q>`` (hand-back; and,
via the acker, the stat keys).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

import msgspec
from redis.asyncio import Redis

from verk_compat.codec.activejob import WRAPPERS
from verk_compat.codec.job import Job, Profile
from verk_compat.codec.verk import VerkJob
from verk_compat.errors import InvalidJob
from verk_compat.keys import Keys
from verk_compat.worker.activejob import display_class, is_active_job, resolve_active_job
from verk_compat.worker.app import App, Resolved, UnknownJob
from verk_compat.worker.counters import Stats
from verk_compat.worker.events import JobFinished, JobStarted
from verk_compat.worker.failure import Failures
from verk_compat.worker.fetch import Acker
from verk_compat.worker.job_log import DONE, START, JobLog
from verk_compat.worker.middleware import JobContext, run_chain
from verk_compat.worker.sync_pool import SyncPool
from verk_compat.worker.timeouts import Deadline, effective_timeout
from verk_compat.worker.unknown_jobs import UnknownJobs
from verk_compat.worker.verk import verk_job

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
        job_timeout: float | None = None,
        unknown_jobs: UnknownJobs | None = None,
    ) -> None:
        self.app = app
        #: What to do with a class the app does not know (default: fail it, as Sidekiq does).
        self.unknown_jobs = unknown_jobs or UnknownJobs(redis, keys, "fail")
        self.acker = acker
        self.stats = stats
        self.pool = pool
        #: Writes failures to ``retry``/``dead`` (Sidekiq's rules under ``profile``).
        self.failures = Failures(app, redis, keys, acker, stats, profile=profile, rng=rng)
        #: The worker's default timeout in seconds for every job (None: none).
        self.job_timeout = job_timeout
        self.running: Running = {}
        self._next_tid = 0
        self._resolved: dict[str, Resolved] = {}
        self._log = JobLog(log, __file__)

    async def process(self, queue: str, inprogress_key: str, raw: bytes) -> bool:
        """Run ``raw`` (already in ``inprogress_key``) to its end.

        Returns True if the job succeeded (the caller must acknowledge it), False if it was
        already moved to retry/dead or dropped by ``lua/fail.lua``.
        """
        # The hot path: one coroutine per job, no allocation beyond the work hash entry unless
        # events, middleware or logging ask for one.
        admitted = await self._admit(queue, inprogress_key, raw)
        if admitted is None:
            return False  # buried, or handed back to its queue: nothing to acknowledge
        job, verk, ready = admitted
        self._next_tid = tid = self._next_tid + 1
        started = _time()
        running = self.running
        running[tid] = (queue, raw, int(started))
        try:
            # The level check and the way lines are written are settled once per loop turn.
            jlog = self._log
            write = jlog.chosen or jlog.choose()
            name = display_class(job)  # an ActiveJob's Rails class, not the wrapper
            if write:
                write(started, START, (job.jid, name, queue))
            events = self.app.events
            if events:
                events.emit(JobStarted(job, queue, started))
            clock = _perf_counter()
            resolved: Resolved | None = None
            deadline: Deadline | None = None
            try:
                resolved = ready or self._lookup(job, raw)
                deadline = self._deadline(resolved, job)
                if self.app.middleware or deadline is not None:
                    await self._invoke(resolved, job, queue, raw, deadline)
                elif resolved.is_async:
                    await resolved.call(*job.args)
                else:
                    await self.pool.run(resolved.call, *job.args)
            except BaseException as exc:
                if isinstance(exc, asyncio.CancelledError) and _shutting_down():
                    raise  # shutdown: the job stays in progress and goes back to its queue
                # As Sidekiq rescues Exception: SystemExit (sys.exit() in a job),
                # KeyboardInterrupt, or a CancelledError the job raised itself (nobody
                # cancelled this task) are that job's failure; only a signal to the process
                # stops the process.
                await self._failed(
                    job, queue, raw, inprogress_key, exc, resolved, started, verk, deadline, tid
                )
                return False
            self.stats.processed += 1
            self.unknown_jobs.ran(queue)
            emit = bool(events)
            if write or emit:
                ms = (_perf_counter() - clock) * 1000
                finished = started + ms / 1000
                # Chosen again (the job may have spanned loop turns), if the start was written.
                if write and (write := jlog.chosen or jlog.choose()):
                    write(finished, DONE, (job.jid, name, queue, ms))
                if emit:
                    events.emit(JobFinished(job, queue, started, finished))
            return True
        finally:
            running.pop(tid, None)

    async def _admit(
        self, queue: str, inprogress_key: str, raw: bytes
    ) -> tuple[Job, VerkJob | None, Resolved | None] | None:
        """The decoded job (and, under the ``requeue`` policy, its resolved callable), or None
        once an undecodable payload went to the dead set or a job of a class nobody registered
        here went back to its queue (``requeue``)."""
        try:
            job, verk = _decode(raw)
            job.args  # noqa: B018  # read now: an unreadable argument is a bad payload, not a failure
        except InvalidJob as exc:
            await self.failures.bury(inprogress_key, raw, exc)
            return None
        if self.unknown_jobs.policy != "requeue":
            return job, verk, None
        try:
            # Resolved once, here: a class is instantiated per job, and only once.
            return job, verk, self._lookup(job, raw)
        except UnknownJob:
            await self.unknown_jobs.hand_back(queue, inprogress_key, raw, display_class(job))
            return None
        except Exception:
            return job, verk, None  # the job's failure, met again when it runs

    def _lookup(self, job: Job, raw: bytes) -> Resolved:
        """A function resolved before, unless a ``function`` key (this project's own
        extension, not Verk's) names a method; else :meth:`_resolve`."""
        known = self._resolved.get(job.class_name)
        if known is None or b'"function"' in raw:
            known = self._resolve(job, raw)
        return known

    def _deadline(self, resolved: Resolved, job: Job) -> Deadline | None:
        """The job's :class:`Deadline` if a timeout applies to it."""
        seconds = effective_timeout(resolved.spec.timeout, self.job_timeout)
        if seconds is None:
            return None
        return Deadline(seconds, f"jid={job.jid} class={display_class(job)}")

    def _resolve(self, job: Job, raw: bytes) -> Resolved:
        """The registered callable; plain functions are looked up once per class name."""
        if b'"function"' in raw:
            function = _function(job)
            if function is not None:
                return self.app.resolve(job.class_name, function)
        name = job.class_name
        if name in WRAPPERS and is_active_job(self.app, job):
            # Per job: the Rails class is inside the payload (never cached by wrapper name).
            return resolve_active_job(self.app, job)
        resolved = self._resolved.get(name)
        if resolved is None:
            resolved = self.app.resolve(name)
            if not resolved.spec.is_class:
                # A class is instantiated per job (as Sidekiq does); a function is reused.
                self._resolved[name] = resolved
        return resolved

    async def _invoke(
        self, resolved: Resolved, job: Job, queue: str, raw: bytes, deadline: Deadline | None
    ) -> None:
        if not self.app.middleware:
            await self._call(resolved, job.args, deadline)
            return
        ctx = JobContext(job, queue, raw)
        chain = self.app.middleware
        await run_chain(chain, ctx, lambda: self._call(resolved, ctx.job.args, deadline))
        if deadline is not None:
            await deadline.outlive()  # a middleware swallowed a JobTimeout: the thread runs on

    async def _call(self, resolved: Resolved, args: list[Any], deadline: Deadline | None) -> None:
        if deadline is not None:
            if resolved.is_async:
                await deadline.run_async(resolved.call, args)
            else:
                await deadline.run_sync(self.pool, resolved.call, args)
        elif resolved.is_async:
            await resolved.call(*args)
        else:
            await self.pool.run(resolved.call, *args)

    async def _failed(
        self,
        job: Job,
        queue: str,
        raw: bytes,
        inprogress_key: str,
        exc: BaseException,
        resolved: Resolved | None,
        started: float,
        verk: VerkJob | None = None,
        deadline: Deadline | None = None,
        tid: int = 0,
    ) -> None:
        if isinstance(exc, UnknownJob) and self.unknown_jobs.policy == "requeue":
            # Resolution at admission normally hands these back; this is a job that raised
            # UnknownJob itself (e.g. resolving another name through the app).
            await self.unknown_jobs.hand_back(queue, inprogress_key, raw, display_class(job))
            return
        try:
            await self.failures.record(
                job, queue, raw, inprogress_key, exc, resolved, started, verk
            )
        finally:
            if deadline is not None:
                # Once the failure is written: a timed-out sync job's thread keeps its slot
                # (and shows as running) until it returns.
                await deadline.outlive()


def _decode(raw: bytes) -> tuple[Job, VerkJob | None]:
    """The job, and the Verk job when ``raw`` is one (``args`` a JSON string)."""
    try:
        return Job.decode(raw), None
    except InvalidJob:
        found = verk_job(raw)
        if found is None:
            raise
        return found[1], found[0]


def _shutting_down() -> bool:
    """Whether the running task was asked to cancel (a shutdown, not a job's own exception)."""
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


def _function(job: Job) -> str | None:
    """The optional ``function`` key, this project's own extension (in ``extra``)."""
    raw = job.extra.get("function") if job.extra else None
    if raw is None:
        return None
    value = msgspec.json.decode(raw)
    return value if isinstance(value, str) else None


_time = time.time
_perf_counter = time.perf_counter
