"""The keep-alive thread: the process hash outlives an event loop that a job blocks.

The heartbeat runs on the event loop; an ``async def`` job that blocks the loop (CPU work, a
sync call) for longer than the TTL would let the hash expire while this process still runs its
jobs, and another process's orphan recovery would requeue them: they would run twice. Like
Sidekiq's heartbeat thread, this thread extends the TTL (``EXPIRE``, which never recreates an
expired hash) whenever the last beat is older than ``min(2 beats, TTL/2)``, and warns once per
stall. ``beat`` and ``busy`` are not updated meanwhile, so Sidekiq Web shows the stall. A job
holding the GIL (a C extension that does not release it) stops this thread too. Before it
warns, the thread asks the loop to run a callback: if the loop answers, nothing blocks it and
the warning says Redis was unreachable or too slow for the beat (with the beat's last error),
not a job.

Keys touched: ``<identity>`` (EXPIRE only).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field

import redis as _sync_redis
from redis.asyncio import Redis
from redis.exceptions import RedisError

from verk_compat.worker.heartbeat import stall_warning
from verk_compat.worker.redis_client import keepalive_client

__all__ = ["KeepAlive", "loop_answers"]

log = logging.getLogger("verk_compat.worker.launcher")


@dataclass
class KeepAlive:
    """What the thread needs of one worker; the loop reports each beat to it."""

    identity: str
    key: str
    ttl: int
    beat_interval: float
    #: ``time.monotonic()`` of the last heartbeat that reached Redis.
    last_beat: float = field(default_factory=time.monotonic)
    #: Why the loop's last beat failed (None after a beat that worked).
    beat_error: BaseException | None = None
    stopped: threading.Event = field(default_factory=threading.Event)

    def beaten(self) -> None:
        """A beat reached Redis."""
        self.last_beat = time.monotonic()
        self.beat_error = None

    def start(self, redis: Redis) -> None:
        """Start the thread (call on the event loop), unless stopped or the client's kind of
        connection has no sync twin (e.g. Sentinel)."""
        if self.stopped.is_set():
            return
        client = keepalive_client(redis)
        if client is None:
            log.info("no keep-alive thread for this Redis client; the heartbeat runs on the loop")
            return
        args = (client, asyncio.get_running_loop())
        name = f"verk-keepalive-{self.identity}"
        threading.Thread(target=self._run, args=args, name=name, daemon=True).start()

    def stop(self) -> None:
        self.stopped.set()

    def _run(self, client: _sync_redis.Redis, loop: asyncio.AbstractEventLoop) -> None:
        period = min(self.beat_interval, self.ttl / 4)
        stall = min(2 * self.beat_interval, self.ttl / 2)
        warned = False
        try:
            while not self.stopped.wait(period):
                late = time.monotonic() - self.last_beat
                if late < stall:
                    warned = False
                    continue
                try:
                    alive = client.expire(self.key, self.ttl)
                except (RedisError, OSError):
                    continue  # Redis unreachable: nobody can steal the jobs either
                if not warned:
                    warned = True
                    self._warn(late, loop_answers(loop, min(1.0, period)), bool(alive))
        finally:
            client.close()

    def _warn(self, late: float, answers: bool, alive: bool) -> None:
        message = stall_warning(
            late, self.identity, loop_answers=answers, error=self.beat_error, alive=alive
        )
        log.warning("%s", message)


def loop_answers(loop: asyncio.AbstractEventLoop, timeout: float) -> bool:
    """Whether ``loop`` runs a callback sent from this thread within ``timeout`` seconds."""
    answered = threading.Event()
    try:
        loop.call_soon_threadsafe(answered.set)
    except RuntimeError:
        return False  # the loop is closed
    return answered.wait(timeout)
