"""The scheduled-job poller: due members of ``retry`` and ``schedule`` go back to their queues.

Like Sidekiq's poller it sleeps a jittered interval (uniform in [0.5 i, 1.5 i], where i is 5 s
times the number of live processes, those whose heartbeat hash exists, unless an interval is
configured) and polls ``retry`` then ``schedule``. Python reads the due members (in batches of
100, not one per round trip), sets ``enqueued_at`` with the codec, and ``lua/enqueue_due.lua``
removes the old member and pushes the new payload only if the removal happened: racing pollers
never double a job. A member that is not a Sidekiq job is never destroyed
(:func:`verk_compat.worker.verk.route_due`): a Verk job goes back to its queue in Verk's format,
other JSON with a ``queue`` to that queue byte for byte, and only unreadable bytes go to
``verk:quarantine:<set>`` (never ``dead``, which is trimmed) wrapped with the reason.

Keys touched: ``retry``, ``schedule``, ``queue:<q>``, ``queues``, ``verk:quarantine:retry``,
``verk:quarantine:schedule``, and through :mod:`verk_compat.worker.process_set`
``processes``, ``<identity>``, ``process_cleanup``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from verk_compat.codec.job import Job, Profile, now
from verk_compat.codec.quarantine import quarantine_entry
from verk_compat.errors import InvalidJob
from verk_compat.keys import Keys
from verk_compat.lua import Arg, script
from verk_compat.worker.process_set import cleanup, live_count
from verk_compat.worker.verk import Requeue, route_due

__all__ = ["AVERAGE_INTERVAL", "BATCH", "Scheduler"]

log = logging.getLogger(__name__)

#: Sidekiq's ``average_scheduled_poll_interval``.
AVERAGE_INTERVAL = 5.0
BATCH = 100
#: Sidekiq's poller prunes ``processes`` on every tenth interval computation.
CLEANUP_EVERY = 10


class Scheduler:
    """Moves due jobs; :meth:`poll` once, or :meth:`run` forever."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        interval: float | None = None,
        profile: Profile = "sidekiq7",
        rng: random.Random | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.interval = interval
        self.profile = profile
        self.rng = rng or random.Random()
        self._calls = 0

    async def poll(self) -> int:
        """Move every job due now from ``retry`` then ``schedule``; returns how many moved."""
        moved = 0
        for zset in (self.keys.retry, self.keys.schedule):
            while True:
                members: Any = await self.redis.zrangebyscore(
                    zset, "-inf", now(), start=0, num=BATCH
                )
                if not members:
                    break
                moved += await self._enqueue(zset, members)
                if len(members) < BATCH:
                    break
        return moved

    async def _enqueue(self, zset: str, members: list[bytes]) -> int:
        stamp = now()
        pipe: Any
        # ``async with`` resets the pipeline (gives its connection back) even if it fails.
        async with self.redis.pipeline(transaction=False) as pipe:
            for member in members:
                job = None
                try:
                    job = Job.decode(member)
                    queue = job.queue or "default"
                    # Sidekiq's poller re-pushes through Client#push, which merges the defaults
                    # (retry: true, queue: "default") into members that lack them.
                    defaults = {"retry": True} if job.retry is None else {}
                    moved = job.replace(enqueued_at=stamp, queue=queue, **defaults)
                    fresh = moved.encode(self.profile)
                except (InvalidJob, ValueError, TypeError, OverflowError) as exc:
                    # Not a Sidekiq job (a Verk job, say), or not writable under this profile:
                    # never destroyed, see route_due.
                    await self._foreign(pipe, zset, member, exc, stamp, job is not None)
                    continue
                keys = [zset, self.keys.queue(queue), self.keys.queues, self.keys.dead]
                await script("enqueue_due").acall(pipe, keys, [member, fresh, queue, stamp])
            results = await pipe.execute()
        return sum(int(r) for r in results)

    async def _foreign(
        self, pipe: Any, zset: str, member: bytes, exc: Exception, stamp: float, readable: bool
    ) -> None:
        route = route_due(member, stamp, exc, readable)
        if isinstance(route, Requeue):
            keys = [zset, self.keys.queue(route.queue), self.keys.queues, self.keys.dead]
            args: list[Arg] = [member, route.payload, route.queue, stamp]
            await script("enqueue_due").acall(pipe, keys, args)
            return
        name = "retry" if zset == self.keys.retry else "schedule"
        target = self.keys.quarantine(name)
        log.error("unreadable member of %s moved to %s: %s: %r", zset, target, exc, member[:200])
        entry = quarantine_entry(member, zset, route.reason)
        # migrate_move: ZREM the exact member and RPUSH the wrapper in one script.
        await script("migrate_move").acall(
            pipe, [zset, target], ["ZSET", member, "RIGHT", entry, ""]
        )

    async def wait_time(self) -> float:
        """Sidekiq's jittered sleep: uniform in [0.5 i, 1.5 i], i from the live processes.

        Like Sidekiq's poller (``process_count``), every tenth call, the first included, also
        prunes dead members from ``processes`` (:func:`~verk_compat.worker.process_set.cleanup`,
        at most once a minute across the cluster).
        """
        if self._calls % CLEANUP_EVERY == 0:
            pruned = await cleanup(self.redis, self.keys)
            if pruned:
                log.info("pruned %d dead processes from processes", pruned)
        self._calls += 1
        interval = self.interval
        if interval is None:
            processes = await live_count(self.redis, self.keys)
            interval = AVERAGE_INTERVAL * max(processes, 1)
        return interval * self.rng.random() + interval / 2

    async def run(self) -> None:
        """Poll forever; errors (Redis or other) are logged and retried after the next sleep."""
        while True:
            try:
                moved = await self.poll()
                if moved:
                    log.debug("scheduler moved %d due jobs", moved)
                delay = await self.wait_time()
            except (RedisError, OSError) as exc:
                log.warning("scheduler poll failed (%s); retrying", exc)
                delay = self.interval or AVERAGE_INTERVAL
            except Exception:
                # A bug must not end the poller for good: no job would move again.
                log.exception("scheduler poll crashed; retrying")
                delay = self.interval or AVERAGE_INTERVAL
            await asyncio.sleep(delay)
