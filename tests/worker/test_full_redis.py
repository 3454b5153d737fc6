"""A Redis full at ``maxmemory`` with ``noeviction`` (issue 16): a worker drains it.

A real redis-server of its own (its memory limit must not touch the session's server), filled
with queued jobs until it refuses writes with OOM. Draining the queue is the only thing that
frees memory, so a worker must be able to fetch, run and acknowledge while Redis is full.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis
from redis.exceptions import OutOfMemoryError

from verk_compat.codec.job import Job
from verk_compat.devtools.redis_server import EmbeddedRedis
from verk_compat.keys import Keys
from verk_compat.worker.app import App
from verk_compat.worker.launcher import Worker

K = Keys()
#: Memory the server may use beyond its empty state: about 10,000 small jobs.
HEADROOM = 2 * 1024 * 1024


@pytest.fixture
def full_redis() -> Iterator[tuple[EmbeddedRedis, int]]:
    """A server at maxmemory (noeviction), its queue ``default`` full; yields it and how
    many jobs it holds (every push past that was refused with OOM)."""
    with EmbeddedRedis() as server:
        r = redis.Redis.from_url(server.url)
        used = int(r.info("memory")["used_memory"])
        r.config_set("maxmemory-policy", "noeviction")
        r.config_set("maxmemory", used + HEADROOM)
        pushed = 0
        try:
            while True:
                pipe = r.pipeline(transaction=False)
                for i in range(pushed, pushed + 200):
                    klass = "Failing" if i % 1000 == 0 else "Fine"
                    pipe.lpush(K.queue("default"), Job.new(klass, [i]).encode())
                pipe.execute()
                pushed += 200
        except OutOfMemoryError:
            pass
        queued = int(r.llen(K.queue("default")))
        with pytest.raises(OutOfMemoryError):
            r.lpush(K.queue("default"), b"{}")
        r.close()
        yield server, queued


async def test_a_worker_drains_a_redis_full_at_maxmemory(
    full_redis: tuple[EmbeddedRedis, int],
) -> None:
    """Before: 0 of 12,653 queued jobs ran in 40 s. The first heartbeat (a MULTI of SADD and
    HSET) was refused, so the worker never started, and the fetch (LMOVE in a script) was
    refused too. Now fetching and acknowledging run while Redis is full, and the queue
    drains."""
    server, queued = full_redis
    assert queued > 5000
    app = App()
    ran: list[int] = []

    @app.job("Fine")
    def fine(i: int) -> None:
        ran.append(i)

    @app.job("Failing")
    def failing(i: int) -> None:
        raise RuntimeError(f"job {i} fails")

    w = Worker(
        app,
        {"default": 10},
        redis_url=server.url,
        burst=True,
        block_timeout=0.2,
        beat_interval=0.5,
    )
    try:
        await asyncio.wait_for(w.run(), 60)
    finally:
        await w.aclose()
    r = redis.Redis.from_url(server.url)
    try:
        failing_jobs = len(range(0, queued, 1000))
        assert len(ran) == queued - failing_jobs
        assert r.llen(K.queue("default")) == 0
        assert r.keys("inprogress:*") == []
        # The failures were recorded with the retry rules, and the stats reached Redis once
        # memory was free again.
        assert r.zcard(K.retry) == failing_jobs
        assert int(r.get(K.stat_processed) or 0) == queued
        assert int(r.get(K.stat_failed) or 0) == failing_jobs
    finally:
        r.close()
