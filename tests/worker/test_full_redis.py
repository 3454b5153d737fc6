"""A Redis full at ``maxmemory`` with ``noeviction`` (issue 16): a worker drains it.

A real redis-server of its own (its memory limit must not touch the session's server), filled
with queued jobs until it refuses writes with OOM. Draining the queue is the only thing that
frees memory, so a worker must be able to fetch, run and acknowledge while Redis is full.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from unittest.mock import ANY

import pytest
import redis
from redis.exceptions import OutOfMemoryError

from verk_compat.codec.job import Job
from verk_compat.devtools.redis_server import EmbeddedRedis
from verk_compat.keys import Keys
from verk_compat.lua import script
from verk_compat.worker.app import App
from verk_compat.worker.launcher import Worker

K = Keys()
#: Memory the server may use beyond its empty state: about 10,000 small jobs.
HEADROOM = 2 * 1024 * 1024
#: How far below the filled server's memory the limit is then set.
SLACK = 256 * 1024


def queue_names(n: int) -> list[str]:
    return ["default"] if n == 1 else [f"q{i}" for i in range(n)]


#: One queue (fetch_ack.lua), and more queues than blocking slots (fetch_many.lua polls too).
@pytest.fixture(params=[1, 20], ids=["one-queue", "20-queues"])
def full_redis(request: pytest.FixtureRequest) -> Iterator[tuple[EmbeddedRedis, list[str], int]]:
    """A server at maxmemory (noeviction), its queues full; yields it, the queue names and how
    many jobs it holds (every push past that was refused with OOM)."""
    names = queue_names(request.param)
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
                    queue = names[i % len(names)]
                    pipe.lpush(K.queue(queue), Job.new(klass, [i], queue=queue).encode())
                pipe.execute()
                pushed += 200
        except OutOfMemoryError:
            pass
        # At the first refusal memory is barely over the limit, and small changes (a client
        # buffer shrinking) can bring it back under: put the limit firmly below.
        r.config_set("maxmemory", int(r.info("memory")["used_memory"]) - SLACK)
        queued = sum(int(r.llen(K.queue(q))) for q in names)
        with pytest.raises(OutOfMemoryError):
            r.lpush(K.queue("default"), b"{}")
        r.close()
        yield server, names, queued


async def test_a_worker_drains_a_redis_full_at_maxmemory(
    full_redis: tuple[EmbeddedRedis, list[str], int],
) -> None:
    """Before: 0 of 12,653 queued jobs ran in 40 s. The first heartbeat (a MULTI of SADD and
    HSET) was refused, so the worker never started, and the fetch (LMOVE in a script) was
    refused too. Now fetching and acknowledging run while Redis is full, and the queue
    drains."""
    server, names, queued = full_redis
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
        {q: 10 if len(names) == 1 else 2 for q in names},
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
        assert [q for q in names if r.llen(K.queue(q))] == []
        assert r.keys("inprogress:*") == []
        # The failures were recorded with the retry rules, and the stats reached Redis once
        # memory was free again.
        assert r.zcard(K.retry) == failing_jobs
        assert int(r.get(K.stat_processed) or 0) == queued
        assert int(r.get(K.stat_failed) or 0) == failing_jobs
    finally:
        r.close()


@pytest.mark.parametrize("full_redis", [1], indirect=True, ids=["one-queue"])
def test_every_script_that_moves_jobs_runs_on_a_full_redis(
    full_redis: tuple[EmbeddedRedis, list[str], int],
) -> None:
    """Each script a worker needs while Redis is full, called on its own: the ones that start
    with a memory-growing command carry ``allow-oom``; fail and enqueue_due free first."""
    server, _, _ = full_redis
    r = redis.Redis.from_url(server.url)
    me, queue, inprogress = "h:1:aaaaaaaaaaaa", K.queue("default"), K.inprogress("default", "h:1:a")
    try:
        with pytest.raises(OutOfMemoryError):  # what a plain fetch gets
            r.lmove(queue, inprogress)
        [raw] = script("fetch_ack")(r, [queue, inprogress], [1])
        assert script("fetch_many")(r, [queue, inprogress], []) == [1, ANY]
        assert script("reconcile")(r, [inprogress, queue], [raw]) == 1  # gives the 2nd back
        beat = [K.processes, K.process(me), K.signals(me), K.work(me)]
        assert script("heartbeat")(r, beat, [me, 60, 1, "info", "{}", "1", "{}"]) is None
        assert r.hget(K.process(me), "info") == b"{}" and r.hlen(K.work(me)) == 1
        grown = raw + b" " * 100  # a retry entry is larger than the job it replaces
        assert script("fail")(r, [inprogress, K.retry], [raw, "retry", 1, grown, 0, 10]) == 1
        args = [grown, grown, "default", 1]
        assert script("enqueue_due")(r, [K.retry, queue, K.queues, K.dead], args) == 1
        # The stats counters are refused as a whole (first write INCRBY, no shebang): never
        # half written, so the acker can keep the counts and send them again later.
        stats = [K.stat_processed, "stat:processed:d", K.stat_failed, "stat:failed:d"]
        with pytest.raises(OutOfMemoryError):
            script("stats")(r, stats, [5, 1, 60])
        assert r.exists(*stats) == 0
        assert len(script("fetch_ack")(r, [queue, inprogress], [3])) == 3
        assert script("requeue")(r, [inprogress, queue], []) == 3
    finally:
        r.close()
