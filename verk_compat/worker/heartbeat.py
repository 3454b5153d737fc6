"""Sidekiq's heartbeat: the process shows up in Sidekiq Web and ``Sidekiq::ProcessSet``.

Every beat (5 s by default, Sidekiq 6's pace) one atomic script (``lua/heartbeat.lua``, the
writes of Sidekiq's MULTI) does: ``SADD processes <id>``; ``HSET <id>`` info (JSON, rebuilt only
when the queues change), busy, beat, quiet, rss, rtt_us, concurrency (the 8.1.2+ field);
``EXPIRE <id> <ttl>``; rewrite the work hash (running jobs, payload as a JSON string, integer
run_at; both ``<id>:workers``, which 6.x Web reads, and ``<id>:work``, which 7.0+ reads, so a
shop mid-upgrade sees the jobs in both; only ``:work`` under the ``sidekiq8`` profile; no key at
all when idle, as Sidekiq 7.2.3+) with the same TTL; ``RPOP <id>-signals``. The script runs even
while Redis is at ``maxmemory`` (``allow-oom``): a refused beat would make a live process look
dead, or keep a worker from starting at all while only draining the queue can free memory. Like
Sidekiq, the work hash is as current as the last beat: a job that starts shows up at the next
beat, a job that ends is gone at the next beat, and shutdown removes the hash. A hash that
expires marks the process dead, which lets a live process recover its in-progress lists
(:mod:`verk_compat.worker.orphans`). What is sent is built by the pure functions of
:mod:`verk_compat.worker.process_info`.

Keys touched: ``processes``, ``<identity>``, ``<identity>:work`` / ``<identity>:workers``,
``<identity>-signals``.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Collection, Mapping
from typing import Any

import msgspec
from redis.asyncio import Redis

from verk_compat._version import __version__
from verk_compat.codec.job import Profile
from verk_compat.keys import Keys
from verk_compat.lua import script
from verk_compat.worker.process_info import heartbeat_fields, process_info, work_entry, work_keys
from verk_compat.worker.processor import Running

__all__ = ["Heartbeat", "make_identity", "rss_kb", "stall_warning"]

log = logging.getLogger(__name__)


def make_identity() -> str:
    """A Sidekiq process identity: ``hostname:pid:hex12``."""
    host = os.environ.get("DYNO") or socket.gethostname()
    return f"{host}:{os.getpid()}:{secrets.token_hex(6)}"


def rss_kb() -> int:
    """Resident set size of this process in KB (0 where /proc is unavailable)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            pages = int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def _signal_name(raw: object, identity: str) -> str | None:
    """The signal popped from ``<identity>-signals``; an unreadable one is logged and ignored
    (raising here would end the heartbeat task, and with it Quiet and Stop)."""
    if not isinstance(raw, bytes):
        return None
    try:
        return raw.decode()
    except UnicodeDecodeError:
        log.warning("ignoring unreadable signal %r for %s", raw[:100], identity)
        return None


class Heartbeat:
    """Builds and sends one process's heartbeat."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        identity: str,
        queues: Mapping[str, int],
        *,
        ttl: int = 60,
        tag: str = "",
        labels: tuple[str, ...] = (),
        embedded: bool = False,
        profile: Profile = "sidekiq7",
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.identity = identity
        self.ttl = ttl
        self.tag = tag
        self.labels = labels
        self.embedded = embedded
        self.started_at = time.time()
        self.work_keys = work_keys(keys, identity, profile)
        self.concurrency = 0
        self.info = b""
        self.set_queues(queues)

    def set_queues(self, queues: Mapping[str, int], paused: Collection[str] = ()) -> None:
        """Rebuild ``info`` for the current queues (sent with the next beat)."""
        info = process_info(
            self.identity,
            queues,
            started_at=self.started_at,
            version=__version__,
            tag=self.tag,
            labels=self.labels,
            embedded=self.embedded,
            paused=paused,
        )
        self.concurrency = int(info["concurrency"])
        self.info = msgspec.json.encode(info)

    async def beat(self, busy: int, quiet: bool, running: Running) -> str | None:
        """Send one heartbeat; returns a signal popped from ``<id>-signals`` (TSTP, TERM...)."""
        started = time.perf_counter()
        await self.redis.ping()
        rtt_us = int((time.perf_counter() - started) * 1_000_000)
        fields = heartbeat_fields(
            self.info,
            busy=busy,
            quiet=quiet,
            beat=time.time(),
            rss=rss_kb(),
            rtt_us=rtt_us,
            concurrency=self.concurrency,
        )
        args: list[Any] = [self.identity, self.ttl, len(fields)]
        for field, value in fields.items():
            args += (field, value)
        # Copy first: jobs start and end on the loop, never while this loop runs, but a TTIN
        # dump or a thread may look at ``running`` concurrently.
        for tid, entry in list(running.items()):
            args += (str(tid), work_entry(*entry))
        keys = [
            self.keys.processes,
            self.keys.process(self.identity),
            self.keys.signals(self.identity),
            *self.work_keys,
        ]
        signal = await script("heartbeat").acall(self.redis, keys, args)
        return _signal_name(signal, self.identity)

    async def clear(self) -> None:
        """Leave ``processes`` and drop the work hash (the process hash expires by itself)."""
        pipe: Any
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.srem(self.keys.processes, self.identity)
            pipe.unlink(self.keys.work(self.identity), self.keys.workers(self.identity))
            await pipe.execute()


def stall_warning(
    late: float, identity: str, *, loop_answers: bool, error: BaseException | None, alive: bool
) -> str:
    """What the keep-alive thread says when no beat reached Redis for ``late`` seconds.

    ``loop_answers``: the event loop ran a callback the thread sent it (so no job blocks it);
    ``error``: why the loop's last beat failed, if it did; ``alive``: whether the thread's
    ``EXPIRE`` still found the process hash. A loop that answers means Redis was the problem
    (unreachable, or too slow to take the beat), not a job.
    """
    if loop_answers:
        why = f" ({type(error).__name__}: {error})" if error is not None else ""
        head = (
            f"Redis unreachable or too slow: the heartbeat could not be written for "
            f"{late:.1f}s{why}; the event loop is running"
        )
    else:
        head = f"event loop stalled: no heartbeat for {late:.1f}s (does a job block the loop?)"
    tail = "" if alive else " failed: the process hash had already expired"
    return f"{head}; keeping {identity} alive from a thread{tail}"
