"""AsyncClient against a real Redis: the same wire as the sync Client, on redis.asyncio."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest
import redis
import redis.asyncio

from tests.support.payloads import queue_payloads, same, schedule_entries
from verk_compat.client.async_client import AsyncClient
from verk_compat.codec.job import Job
from verk_compat.devtools.redis_server import free_port
from verk_compat.errors import InvalidJob, RedisUnavailable


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(redis_url) as c:
        yield c


async def test_enqueue(client: AsyncClient, r: redis.Redis) -> None:
    before = time.time()
    jid = await client.enqueue("HardWorker", [1, "two", 3.0, {"a": None}], retry=5, tags=["t"])
    (payload,) = queue_payloads(r)
    assert payload["jid"] == jid and payload["retry"] == 5 and payload["tags"] == ["t"]
    same(payload["args"], [1, "two", 3.0, {"a": None}])
    assert before <= payload["created_at"] <= payload["enqueued_at"] <= time.time()
    assert r.smembers("queues") == {b"default"}


async def test_enqueue_many(redis_url: str, r: redis.Redis) -> None:
    async with AsyncClient(redis_url, batch_size=100) as client:
        jids = await client.enqueue_many("W", [[i] for i in range(250)], queue="q")
    payloads = queue_payloads(r, "queue:q")
    assert [p["jid"] for p in payloads] == jids
    assert len({p["created_at"] for p in payloads}) == 3


async def test_schedule_and_enqueue_in(client: AsyncClient, r: redis.Redis) -> None:
    at = time.time() + 1000.5
    await client.schedule("W", [1], at=at)
    await client.enqueue_in(60, "W", [2])
    await client.schedule("W", [3], at=time.time() - 1)
    entries = schedule_entries(r)
    assert [p["args"] for p, _ in entries] == [[2], [1]]
    assert entries[1][1] == at
    assert all("enqueued_at" not in p for p, _ in entries)
    assert [p["args"] for p in queue_payloads(r)] == [[3]]


async def test_strict_args(client: AsyncClient, r: redis.Redis) -> None:
    with pytest.raises(InvalidJob):
        await client.enqueue("W", [object()])
    with pytest.raises(InvalidJob):
        await client.enqueue_many("W", [[1], [{2}]])
    assert r.dbsize() == 0


async def test_existing_client_profile_namespace(ar: redis.asyncio.Redis, r: redis.Redis) -> None:
    client = AsyncClient(redis=ar, profile="sidekiq8", namespace="ns")
    await client.enqueue("W", [])
    await client.aclose()
    assert await ar.ping()  # a client handed in stays open
    (raw,) = r.lrange("ns:queue:default", 0, -1)
    assert isinstance(json.loads(raw)["enqueued_at"], int)
    assert Job.decode(raw).enqueued_at == pytest.approx(time.time(), abs=5)


async def test_resque(redis_url: str, r: redis.Redis) -> None:
    async with AsyncClient(redis_url, target="resque") as client:
        await client.enqueue("A", [1], queue="jobs")
    assert r.lrange("resque:queue:jobs", 0, -1) == [b'{"class":"A","args":[1]}']


async def test_unreachable() -> None:
    port = free_port()
    async with AsyncClient(f"redis://:hunter2@127.0.0.1:{port}/0") as client:
        with pytest.raises(RedisUnavailable, match=f"127.0.0.1:{port}") as info:
            await client.enqueue("W", [])
    assert "hunter2" not in str(info.value)
