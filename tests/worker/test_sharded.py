"""Queues sharded across two real Redis servers: routed enqueues, one process serving both."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis

from verk_compat.client.sharded import AsyncShardedClient, ShardedClient
from verk_compat.devtools.redis_server import EmbeddedRedis
from verk_compat.keys import Keys
from verk_compat.worker.app import App
from verk_compat.worker.sharded import ShardedWorker

K = Keys()


@pytest.fixture
def second() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis() as server:
        yield server


async def test_routed_enqueue_and_one_worker_on_two_servers(
    r: redis.Redis, redis_url: str, second: EmbeddedRedis
) -> None:
    other = redis.Redis.from_url(second.url)
    client = ShardedClient({"critical": second.url}, default=redis_url)
    client.enqueue("Sharded", ["a"], queue="default")
    client.enqueue("Sharded", ["b"], queue="critical")
    client.enqueue_many("Sharded", [["c"], ["d"]], queue="critical")
    client.enqueue_in(0, "Sharded", ["e"], queue="default")
    client.close()
    assert (r.llen(K.queue("default")), r.llen(K.queue("critical"))) == (2, 0)
    assert (other.llen(K.queue("critical")), other.llen(K.queue("default"))) == (3, 0)

    app = App()
    ran: list[str] = []

    @app.job("Sharded")
    async def sharded(name: str) -> None:
        ran.append(name)

    shards = {redis_url: {"default": 2}, second.url: {"critical": 2}}
    worker = ShardedWorker(app, shards, burst=True)
    await asyncio.wait_for(worker.run(), 30)
    await worker.aclose()
    assert sorted(ran) == ["a", "b", "c", "d", "e"]
    # Each server saw its own process (one heartbeat per server).
    identities = [w.identity for w in worker.workers]
    assert identities[0] != identities[1]
    assert int(r.get("stat:processed") or 0) == 2 and int(other.get("stat:processed") or 0) == 3
    other.close()


async def test_async_sharded_client_routes(
    r: redis.Redis, redis_url: str, second: EmbeddedRedis
) -> None:
    client = AsyncShardedClient({"critical": second.url}, default=redis_url)
    await client.enqueue("X", [1], queue="critical")
    await client.schedule("X", [2], at=4_102_444_800, queue="default")
    await client.aclose()
    other = redis.Redis.from_url(second.url)
    assert other.llen(K.queue("critical")) == 1 and r.zcard(K.schedule) == 1
    other.close()


def test_a_queue_on_two_servers_is_refused(redis_url: str) -> None:
    with pytest.raises(ValueError, match="on two servers"):
        ShardedWorker(App(), {redis_url: {"q": 1}, "redis://other:1/0": {"q": 1}})


async def test_hooks_run_once_and_cron_entries_live_with_their_queue(
    redis_url: str, second: EmbeddedRedis
) -> None:
    app = App()
    calls: list[str] = []
    app.on_startup(lambda ctx: calls.append("up"))
    app.on_shutdown(lambda ctx: calls.append("down"))
    app.cron("on_first", "* * * * *", "X", queue="default")
    app.cron("on_second", "* * * * *", "X", queue="critical")
    worker = ShardedWorker(
        app, {redis_url: {"default": 1}, second.url: {"critical": 1}}, burst=True
    )
    assert [[e.name for e in w.cron.entries] for w in worker.workers] == [
        ["on_first"],
        ["on_second"],
    ]
    await asyncio.wait_for(worker.run(), 30)
    await worker.aclose()
    assert calls == ["up", "down"]
    assert app.context.identity == worker.workers[0].identity


def test_a_cron_entry_for_an_unserved_queue_is_refused(redis_url: str) -> None:
    app = App()
    app.cron("nowhere", "* * * * *", "X", queue="mailers")
    with pytest.raises(ValueError, match="'mailers', which no shard serves"):
        ShardedWorker(app, {redis_url: {"default": 1}})
