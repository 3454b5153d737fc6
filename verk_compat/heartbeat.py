"""Sidekiq's heartbeat: the process shows up in Sidekiq Web and ``Sidekiq::ProcessSet``.

Every beat (5 s by default, Sidekiq 6's pace) one MULTI does: ``SADD processes <id>``;
``HSET <id>`` info (JSON, computed once), busy, beat, quiet, rss, rtt_us, concurrency;
``EXPIRE <id> <ttl>``; rewrite ``<id>:work`` (running jobs, payload as a JSON string, integer
run_at) with the same TTL; ``RPOP <id>-signals``. A hash that expires marks the process dead,
which lets a live process recover its in-progress lists (:mod:`verk_compat.orphans`).

Keys touched: ``processes``, ``<identity>``, ``<identity>:work``, ``<identity>-signals``.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Mapping
from typing import Any

import msgspec
from redis.asyncio import Redis

from . import __version__
from .keys import Keys
from .processor import Running

__all__ = ["Heartbeat", "make_identity", "rss_kb"]


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
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.identity = identity
        self.ttl = ttl
        self.concurrency = sum(queues.values())
        host, pid, _ = identity.rsplit(":", 2)
        info = {
            "hostname": host,
            "started_at": time.time(),
            "pid": int(pid) if pid.isdigit() else os.getpid(),
            "tag": tag,
            "labels": list(labels),
            "identity": identity,
            "concurrency": self.concurrency,
            "queues": list(queues),
            "weights": [dict.fromkeys(queues, 0)],
            "version": __version__,
            "embedded": embedded,
            "capsules": {
                "default": {
                    "concurrency": self.concurrency,
                    "mode": "strict",
                    "weights": dict.fromkeys(queues, 0),
                }
            },
        }
        self.info = msgspec.json.encode(info)

    async def beat(self, busy: int, quiet: bool, running: Running) -> str | None:
        """Send one heartbeat; returns a signal popped from ``<id>-signals`` (TSTP, TERM...)."""
        started = time.perf_counter()
        await self.redis.ping()
        rtt_us = int((time.perf_counter() - started) * 1_000_000)
        key = self.keys.process(self.identity)
        work = self.keys.work(self.identity)
        pipe: Any = self.redis.pipeline(transaction=True)
        pipe.sadd(self.keys.processes, self.identity)
        pipe.hset(
            key,
            mapping={
                "info": self.info,
                "busy": busy,
                "beat": repr(time.time()),
                "quiet": "true" if quiet else "false",
                "rss": rss_kb(),
                "rtt_us": rtt_us,
                "concurrency": self.concurrency,
            },
        )
        pipe.expire(key, self.ttl)
        pipe.unlink(work)
        entries = {str(tid): _work_entry(entry) for tid, entry in running.items()}
        if entries:
            pipe.hset(work, mapping=entries)
            pipe.expire(work, self.ttl)
        pipe.rpop(self.keys.signals(self.identity))
        replies = await pipe.execute()
        signal = replies[-1]
        return signal.decode() if isinstance(signal, bytes) else None

    async def clear(self) -> None:
        """Leave ``processes`` and drop the work hash (the process hash expires by itself)."""
        pipe: Any = self.redis.pipeline(transaction=True)
        pipe.srem(self.keys.processes, self.identity)
        pipe.unlink(self.keys.work(self.identity))
        await pipe.execute()


def _work_entry(entry: tuple[str, bytes, int]) -> bytes:
    queue, raw, run_at = entry
    return msgspec.json.encode({"queue": queue, "payload": raw.decode(), "run_at": run_at})
