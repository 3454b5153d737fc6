"""What a worker does with a job whose class its app does not know (a shared queue).

On a queue shared with Ruby Sidekiq, a Python worker fetches jobs of Ruby-only classes. The
policy (``Worker(unknown_jobs=...)``, ``verk-compat worker --unknown-jobs``) is either:

* ``requeue`` (the default, safest for a mixed fleet; a ``--burst`` worker defaults to
  ``fail`` and refuses ``requeue``, as its queues would never drain): the job is handed back
  without counting a failure, so a process that knows the class runs it.
  ``lua/hand_back.lua`` moves the exact fetched bytes from the in-progress list to the push
  end of the queue in one atomic step (the job is never only in memory), before the job is
  logged or announced as started. Fetching from that queue then pauses, longer for each
  consecutive hand-back on it (:func:`decide`), so a queue nobody else consumes does not spin;
  the pause holds the queue's fetch loop, never a job slot, and a job of the queue that runs
  ends it (a queue mixing known and unknown classes keeps its pace).
  The push end (where clients enqueue) was chosen over the pop end: the job waits behind the
  jobs already queued, so it cannot starve this worker's own jobs, and a Ruby process blocked
  in ``BRPOP`` on an empty queue receives it at once. The schedule set was not used: Ruby would
  see the job only after its next scheduler poll (5 s times the number of processes, on
  average), and as "scheduled" in the meantime.
* ``fail``: Sidekiq's behaviour, the job fails as ``UnknownJob`` (retry, then dead).

The decision is the pure function :func:`decide`; :class:`UnknownJobs` applies it.

Keys touched: ``inprogress:<q>:<identity>`` (LREM), ``queue:<q>`` (LPUSH).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Literal

from redis.asyncio import Redis
from redis.exceptions import RedisError

from verk_compat.keys import Keys
from verk_compat.lua import script
from verk_compat.worker.backoff import Backoff

__all__ = [
    "DEFAULT_POLICY",
    "POLICIES",
    "Fail",
    "HandBack",
    "Policy",
    "UnknownJobs",
    "check_policy",
    "decide",
    "worker_policy",
]

log = logging.getLogger(__name__)

Policy = Literal["fail", "requeue"]
POLICIES: tuple[Policy, ...] = ("fail", "requeue")
DEFAULT_POLICY: Policy = "requeue"

#: Pause after the second hand-back in a row (the first costs none), and the most any pause
#: lasts (seconds).
FIRST_PAUSE = 0.05
MAX_PAUSE = 5.0


@dataclass(frozen=True, slots=True)
class Fail:
    """Fail the job as ``UnknownJob`` (retry, then dead), as Sidekiq does."""


@dataclass(frozen=True, slots=True)
class HandBack:
    """Put the job back on its queue, then pause fetching from it for ``pause`` seconds."""

    pause: float


def decide(policy: Policy, in_a_row: int) -> Fail | HandBack:
    """The action for an unknown class; ``in_a_row``: hand-backs on the queue just before.

    A first hand-back costs no pause (an unknown job in a busy shared queue slows nothing);
    then the pause doubles (0.05 s, 0.1 s, ... up to 5 s), so a queue holding only unknown
    jobs and no other consumer is fetched from at most once per 5 s after about 5 s.
    """
    if policy == "fail":
        return Fail()
    if policy != "requeue":
        raise ValueError(f"unknown-jobs policy must be one of {POLICIES}, not {policy!r}")
    if in_a_row <= 0:
        return HandBack(0.0)
    return HandBack(min(MAX_PAUSE, FIRST_PAUSE * 2 ** min(in_a_row - 1, 16)))


def worker_policy(policy: str | None, burst: bool) -> Policy:
    """The policy a worker uses: ``requeue`` by default, ``fail`` by default in burst mode.

    A burst worker ends once its queues are empty; handing jobs back would keep them from
    ever being empty, so it fails unknown classes unless told otherwise, and refuses to be
    told ``requeue``.
    """
    if policy is None:
        return "fail" if burst else DEFAULT_POLICY
    checked = check_policy(policy)
    if burst and checked == "requeue":
        raise ValueError(
            "a burst worker cannot hand unknown jobs back: its queues would never drain"
        )
    return checked


def check_policy(policy: str) -> Policy:
    """``policy`` if it is a known one, else a ValueError naming the choices."""
    if policy not in POLICIES:
        raise ValueError(f"unknown-jobs policy must be one of {POLICIES}, not {policy!r}")
    return policy


class UnknownJobs:
    """Applies the policy for one worker process (Redis I/O and the queues' pauses)."""

    def __init__(self, redis: Redis, keys: Keys, policy: Policy = DEFAULT_POLICY) -> None:
        self.redis = redis
        self.keys = keys
        self.policy = check_policy(policy)
        #: Consecutive hand-backs per queue (reset when a job of that queue runs).
        self.in_a_row: dict[str, int] = {}
        #: ``time.monotonic()`` until which fetching from a queue pauses.
        self.paused_until: dict[str, float] = {}
        self._warned: dict[str, float] = {}
        self._stopping: asyncio.Event | None = None

    def stop(self) -> None:
        """The worker is stopping: pauses end at once (the jobs are already back in queue)."""
        self._event().set()

    def _event(self) -> asyncio.Event:
        if self._stopping is None:
            self._stopping = asyncio.Event()
        return self._stopping

    def action(self, queue: str) -> Fail | HandBack:
        return decide(self.policy, self.in_a_row.get(queue, 0))

    def ran(self, queue: str) -> None:
        """A job of ``queue`` ran: no pause now, and the next hand-back costs none."""
        if self.in_a_row:
            self.in_a_row.pop(queue, None)
            self.paused_until.pop(queue, None)

    def pause_left(self, queue: str) -> float:
        """Seconds fetching from ``queue`` should still wait (0.0: fetch)."""
        if not self.paused_until:
            return 0.0
        return max(0.0, self.paused_until.get(queue, 0.0) - time.monotonic())

    async def pause(self, seconds: float) -> None:
        """Wait ``seconds``, or less if the worker stops meanwhile."""
        stopping = self._event()
        if not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), seconds)

    async def hand_back(self, queue: str, inprogress_key: str, raw: bytes, class_name: str) -> None:
        """Move ``raw`` back to ``queue`` (retrying while Redis is unreachable: the job stays
        in progress meanwhile), and pause fetching from ``queue`` for the decided time."""
        action = self.action(queue)
        assert isinstance(action, HandBack)
        self.in_a_row[queue] = self.in_a_row.get(queue, 0) + 1
        backoff = Backoff()
        keys = [inprogress_key, self.keys.queue(queue)]
        while True:
            try:
                await script("hand_back").acall(self.redis, keys, [raw])
                break
            except (RedisError, OSError) as exc:
                log.warning("handing back a job failed (%s); retrying in %.1fs", exc, backoff.delay)
                await backoff.sleep()
        self._warn(class_name, queue)
        if action.pause > 0:
            until = time.monotonic() + action.pause
            self.paused_until[queue] = max(until, self.paused_until.get(queue, 0.0))

    def _warn(self, class_name: str, queue: str) -> None:
        """One warning per class a minute: visible, without a line per hand-back."""
        stamp = time.monotonic()
        if stamp - self._warned.get(class_name, -60.0) >= 60.0:
            self._warned[class_name] = stamp
            log.warning(
                "class %s is not registered: handed back to queue %s for another process "
                "(--unknown-jobs requeue; use fail to retry it as UnknownJob)",
                class_name,
                queue,
            )
