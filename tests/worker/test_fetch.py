"""Reliable fetch, ack, failure, requeue and due-job scripts against a real Redis."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio

from verk_compat.keys import Keys
from verk_compat.lua import script
from verk_compat.worker.counters import Stats
from verk_compat.worker.fetch import Acker, Fetcher

K = Keys()
ID = "host:123:abcdefabcdef"


async def test_batch_fetch_moves_oldest_first_and_stops_when_empty(
    r: redis.Redis, ar: redis.asyncio.Redis
) -> None:
    r.lpush(K.queue("q"), b"a", b"b", b"c")  # a is the oldest (right end)
    fetcher = Fetcher(ar, K, "q", ID)
    assert await fetcher.fetch(2) == [b"a", b"b"]
    assert r.lrange(K.inprogress("q", ID), 0, -1) == [b"b", b"a"]
    assert await fetcher.fetch(5) == [b"c"]
    assert await fetcher.fetch(5) == []
    assert r.llen(K.queue("q")) == 0


async def test_blocking_fetch_waits_then_times_out(r: redis.Redis, ar: redis.asyncio.Redis) -> None:
    fetcher = Fetcher(ar, K, "q", ID)
    assert await fetcher.wait_one(0.1) is None
    r.lpush(K.queue("q"), b"x")
    assert await fetcher.wait_one(0.1) == b"x"
    assert r.lrange(K.inprogress("q", ID), 0, -1) == [b"x"]


async def test_ack_removes_exact_bytes_and_counts_stats(
    r: redis.Redis, ar: redis.asyncio.Redis
) -> None:
    r.lpush(K.queue("q"), b'{"a":1}', b'{"a": 1}')
    fetcher = Fetcher(ar, K, "q", ID)
    raws = await fetcher.fetch(2)
    stats = Stats(K)
    acker = Acker(ar, stats)
    stats.processed += 3
    stats.failed += 1
    flush = None
    import asyncio

    flush = asyncio.create_task(acker.run())
    await acker.ack(fetcher.inprogress_key, raws[0])
    assert r.lrange(fetcher.inprogress_key, 0, -1) == [raws[1]]
    flush.cancel()
    assert int(r.get(K.stat_processed) or 0) == 3
    assert int(r.get(K.stat_failed) or 0) == 1
    day_keys = [k for k in r.keys("stat:processed:*")]
    assert len(day_keys) == 1 and r.ttl(day_keys[0]) > 0


async def test_requeue_restores_original_order(r: redis.Redis, ar: redis.asyncio.Redis) -> None:
    r.lpush(K.queue("q"), b"1", b"2", b"3", b"4")
    fetcher = Fetcher(ar, K, "q", ID)
    assert await fetcher.fetch(3) == [b"1", b"2", b"3"]
    assert await fetcher.requeue_all() == 3
    assert r.llen(fetcher.inprogress_key) == 0
    # Popping from the right gives the original order again.
    assert [r.rpop(K.queue("q")) for _ in range(4)] == [b"1", b"2", b"3", b"4"]


def test_fail_script_retry_dead_drop(r: redis.Redis) -> None:
    ip = K.inprogress("q", ID)
    r.lpush(ip, b"j1", b"j2", b"j3")
    fail = script("fail")
    assert fail(r, [ip, K.retry], [b"j1", "retry", 123.5, b"j1-retry", 0, 10000]) == 1
    assert r.zrange(K.retry, 0, -1, withscores=True) == [(b"j1-retry", 123.5)]
    assert fail(r, [ip, K.dead], [b"j2", "dead", 200.0, b"j2-dead", 0, 10000]) == 1
    assert r.zrange(K.dead, 0, -1) == [b"j2-dead"]
    assert fail(r, [ip, K.dead], [b"j3", "drop", 0, b"", 0, 10000]) == 1
    assert r.llen(ip) == 0
    # Not in progress any more (requeued by someone else): nothing is added.
    assert fail(r, [ip, K.retry], [b"j1", "retry", 1.0, b"again", 0, 10000]) == 0
    assert r.zcard(K.retry) == 1


def test_dead_trim_by_count_and_age(r: redis.Redis) -> None:
    ip = K.inprogress("q", ID)
    for i in range(5):
        r.zadd(K.dead, {f"old{i}": 100 + i})
    r.lpush(ip, b"new")
    # cutoff 102 drops scores <= 102; max 3 keeps the 2 newest (rank 0..-3 removed).
    script("fail")(r, [ip, K.dead], [b"new", "dead", 1000.0, b"new", 102, 3])
    assert r.zrange(K.dead, 0, -1) == [b"old4", b"new"]


def test_enqueue_due_moves_once(r: redis.Redis) -> None:
    r.zadd(K.schedule, {b"old": 1.0})
    due = script("enqueue_due")
    keys = [K.schedule, K.queue("q"), K.queues, K.dead]
    assert due(r, keys, [b"old", b"new", "q", 5.0]) == 1
    assert due(r, keys, [b"old", b"new", "q", 5.0]) == 0
    assert r.lrange(K.queue("q"), 0, -1) == [b"new"]
    assert r.smembers(K.queues) == {b"q"}
    r.zadd(K.schedule, {b"junk": 1.0})
    assert due(r, keys, [b"junk", b"", "", 5.0]) == 1
    assert r.zrange(K.dead, 0, -1, withscores=True) == [(b"junk", 5.0)]


def test_inprogress_parts() -> None:
    assert K.inprogress_parts(K.inprogress("a:b", ID)) == ("a:b", ID)
    ns = Keys("ns")
    assert ns.inprogress_parts(ns.inprogress("q", ID).encode()) == ("q", ID)


async def test_failed_ack_flush_resets_its_pipeline() -> None:
    """A flush that fails half-way (here the pipeline's SCRIPT EXISTS times out while the server
    is paused) gives its connection back to the pool and leaves no ``Unclosed Pipeline client``
    behind; its acks are sent by the next flush."""
    import gc
    import warnings

    from verk_compat.devtools.redis_server import EmbeddedRedis

    with EmbeddedRedis() as server:
        client = redis.asyncio.Redis.from_url(server.url, socket_timeout=0.3)
        sync = redis.Redis.from_url(server.url)
        ip = K.inprogress("q", ID)
        sync.lpush(ip, b"a", b"b")
        acker = Acker(client, Stats(K))
        pool: Any = client.connection_pool
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                await client.ping()  # the pool holds one idle, connected connection
                sync.client_pause(1000, all=True)
                acker.add(ip, [b"a"])
                assert not await acker.flush()
                assert not pool._in_use_connections, "the failed pipeline kept its connection"
                gc.collect()
                sync.client_unpause()
                acker.add(ip, [b"b"])
                assert await acker.flush()
                gc.collect()
            assert not [w for w in caught if "Unclosed" in str(w.message)], caught
            assert sync.llen(ip) == 0 and acker.pending == 0
        finally:
            sync.close()
            await client.aclose()
