"""Recording a failed job: Sidekiq's retry or dead, by the fetched bytes, in one script.

:meth:`Failures.record` computes Sidekiq's decision (:mod:`verk_compat.worker.retry`) from the
payload decoded again from the fetched bytes (the job may have changed its args in place), with
the registered options of the job's class applied, and runs ``lua/fail.lua``: LREM from
in-progress and ZADD ``retry`` or ``dead`` (trimmed) atomically. A payload for which no
decision can be computed (a ``retry_count`` overflowing the delay) goes to ``dead`` as
fetched; a Verk job fails by Verk's rules, written back in Verk's format; an undecodable
payload goes to ``dead`` untouched (:meth:`Failures.bury`). While Redis is unreachable the
script is retried: the job stays in progress meanwhile, so nothing is lost.

Keys touched: ``inprogress:<q>:<identity>``, ``retry``, ``dead``.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from verk_compat.codec.job import Job, Profile, now
from verk_compat.codec.verk import VerkJob
from verk_compat.keys import Keys
from verk_compat.lua import dead_trim, script
from verk_compat.worker.activejob import display_class
from verk_compat.worker.app import App, Resolved, UnknownJob
from verk_compat.worker.backoff import Backoff
from verk_compat.worker.counters import Stats
from verk_compat.worker.events import JobFailed
from verk_compat.worker.fetch import Acker
from verk_compat.worker.job_log import log_failure
from verk_compat.worker.retry import (
    Dead,
    Decision,
    Discard,
    Retry,
    apply_registered,
    next_attempt,
)
from verk_compat.worker.verk import verk_failure

__all__ = ["Failures"]

# The processor's logger: the fail lines belong with the job's start and done lines.
log = logging.getLogger("verk_compat.worker.processor")


class Failures:
    """Records the failures of one worker process's jobs (counts them in ``stats``)."""

    def __init__(
        self,
        app: App,
        redis: Redis,
        keys: Keys,
        acker: Acker,
        stats: Stats,
        *,
        profile: Profile = "sidekiq7",
        rng: random.Random | None = None,
    ) -> None:
        self.app = app
        self.redis = redis
        self.keys = keys
        self.acker = acker
        self.stats = stats
        self.profile = profile
        self.rng = rng or random.Random()

    async def record(
        self,
        job: Job,
        queue: str,
        raw: bytes,
        inprogress_key: str,
        exc: BaseException,
        resolved: Resolved | None,
        started: float,
        verk: VerkJob | None,
    ) -> None:
        """Log the failure, then move the job from ``inprogress_key`` to ``retry`` or
        ``dead`` (or drop it) by Sidekiq's rules, or by Verk's for a Verk job."""
        if verk is not None:
            await self._verk(verk, job, queue, raw, inprogress_key, exc, started)
            return
        # The retry is built from the fetched bytes, as Sidekiq re-parses the job string: the
        # job may have changed its args in place (or stored objects JSON cannot hold).
        fetched = Job.decode(raw)
        decision = self.decide(fetched, queue, exc, resolved)
        outcome = type(decision).__name__.lower() if decision else "dead (as fetched)"
        log_failure(log, job.jid, display_class(job), queue, started, exc, outcome)
        if decision is None:
            stamp = now()
            keys = [inprogress_key, self.keys.dead]
            await self._fail_script(keys, [raw, "dead", stamp, raw, *dead_trim(stamp)])
        else:
            await self._apply(inprogress_key, raw, decision)
        self.stats.processed += 1
        self.stats.failed += 1
        self.acker.wake()
        if self.app.events:
            self.app.events.emit(JobFailed(fetched, queue, started, time.time(), exc))

    def decide(
        self, job: Job, queue: str, exc: BaseException, resolved: Resolved | None
    ) -> Decision | None:
        """Sidekiq's retry decision, or None if the payload makes one impossible."""
        spec = resolved.spec if resolved else None
        try:
            if spec is not None:
                job = apply_registered(
                    job,
                    retry=spec.retry,
                    retry_queue=spec.retry_queue,
                    dead=spec.dead,
                    backtrace=spec.backtrace,
                )
            return next_attempt(
                job,
                exc,
                queue=queue,
                now=now(),
                rng=self.rng,
                path="global" if isinstance(exc, UnknownJob) else "local",
                default_retry=spec.retry if spec else True,
                retry_in=spec.retry_in if spec else None,
                profile=self.profile,
            )
        except (ValueError, TypeError, OverflowError) as bad:
            # E.g. ``retry``/``retry_count`` too large for a float delay. The job goes to
            # dead as fetched rather than stay in progress (and run again) for ever.
            log.error("jid=%s: no retry can be computed (%s: %s)", job.jid, type(bad).__name__, bad)
            return None

    async def _verk(
        self,
        verk: VerkJob,
        job: Job,
        queue: str,
        raw: bytes,
        inprogress_key: str,
        exc: BaseException,
        started: float,
    ) -> None:
        """A Verk job failed: Verk's counts and backoff, written back in Verk's format."""
        stamp = now()
        failure = verk_failure(verk, exc, now=stamp, rng=self.rng)
        outcome = f"{failure.target} (verk)"
        log_failure(log, job.jid, job.class_name, queue, started, exc, outcome)
        target = self.keys.retry if failure.target == "retry" else self.keys.dead
        args: list[Any] = [raw, failure.target, failure.score, failure.payload.encode()]
        await self._fail_script([inprogress_key, target], [*args, *dead_trim(stamp)])
        self.stats.processed += 1
        self.stats.failed += 1
        self.acker.wake()
        if self.app.events:
            self.app.events.emit(JobFailed(job, queue, started, time.time(), exc))

    async def _apply(self, inprogress_key: str, raw: bytes, decision: Decision) -> None:
        """Run ``lua/fail.lua`` for ``decision``, retrying while Redis is unreachable."""
        stamp = now()
        try:
            member = b"" if isinstance(decision, Discard) else decision.payload.encode(self.profile)
        except (ValueError, TypeError, OverflowError) as exc:
            # The failed job cannot be written under this profile: keep it as fetched in dead
            # rather than leave it in progress to run (and fail) again after every restart.
            log.error("failed job cannot be re-encoded (%s); moved to dead untouched", exc)
            decision = Dead(decision.payload)
            member = raw
        if isinstance(decision, Retry):
            keys = [inprogress_key, self.keys.retry]
            args: list[Any] = [raw, "retry", decision.at, member]
        elif isinstance(decision, Dead):
            keys = [inprogress_key, self.keys.dead]
            args = [raw, "dead", stamp, member]
        else:
            assert isinstance(decision, Discard)
            keys = [inprogress_key, self.keys.dead]
            args = [raw, "drop", 0, b""]
        await self._fail_script(keys, [*args, *dead_trim(stamp)])

    async def bury(self, inprogress_key: str, raw: bytes, exc: Exception) -> None:
        """Move an undecodable payload to ``dead`` untouched."""
        log.error("undecodable payload moved to dead set: %s: %r", exc, raw[:200])
        stamp = now()
        keys = [inprogress_key, self.keys.dead]
        await self._fail_script(keys, [raw, "dead", stamp, raw, *dead_trim(stamp)])

    async def _fail_script(self, keys: list[str], args: list[Any]) -> None:
        backoff = Backoff()
        while True:
            try:
                await script("fail").acall(self.redis, keys, args)
                return
            except (RedisError, OSError) as exc:
                # The job stays in progress meanwhile, so nothing is lost while we wait.
                log.warning(
                    "recording a failure failed (%s); retrying in %.1fs", exc, backoff.delay
                )
                await backoff.sleep()
