"""``wait_replicas``: Redis WAIT after each push, on the push's own connection.

A real primary and a real replica (``replicaof``) are started per module; without a replica the
same WAIT comes back short and the client raises NotReplicated naming the queued jids.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from verk_compat import AsyncClient, Client, NotReplicated
from verk_compat.devtools.redis_server import EmbeddedRedis


def _head(client: redis.Redis, key: str) -> bytes:
    value = client.lindex(key, 0)
    assert isinstance(value, bytes)
    return value


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[EmbeddedRedis, EmbeddedRedis]]:
    with EmbeddedRedis() as primary:
        extra = ["--replicaof", primary.host, str(primary.port)]
        with EmbeddedRedis(extra_args=extra) as replica:
            check = redis.Redis.from_url(replica.url)
            deadline = time.monotonic() + 20
            while check.info("replication").get("master_link_status") != "up":
                assert time.monotonic() < deadline, "the replica never synced"
                time.sleep(0.05)
            check.close()
            yield primary, replica


def test_enqueue_returns_once_the_replica_has_the_job(
    pair: tuple[EmbeddedRedis, EmbeddedRedis],
) -> None:
    primary, replica = pair
    seen = redis.Redis.from_url(replica.url)
    with Client(primary.url, wait_replicas=1, wait_timeout=2.0) as client:
        for i in range(20):
            jid = client.enqueue("HardWorker", [i], queue="waited")
            # Read straight from the replica: WAIT returned, so it has the push already.
            assert seen.llen("queue:waited") == i + 1
            assert jid.encode() in _head(seen, "queue:waited")
        jids = client.enqueue_many("HardWorker", [[n] for n in range(5)], queue="waited")
        assert seen.llen("queue:waited") == 25 and len(jids) == 5
    seen.close()


async def test_async_enqueue_waits_for_the_replica(
    pair: tuple[EmbeddedRedis, EmbeddedRedis],
) -> None:
    primary, replica = pair
    seen = redis.Redis.from_url(replica.url)
    async with AsyncClient(primary.url, wait_replicas=1, wait_timeout=2.0) as client:
        at = time.time() + 60
        jid = await client.schedule("HardWorker", [1], at=at, queue="waited_async")
        assert seen.zcard("schedule") >= 1
        assert any(jid.encode() in m for m in seen.zrange("schedule", 0, -1))
    seen.close()


def test_short_of_replicas_raises_with_the_queued_jids(redis_url: str, r: redis.Redis) -> None:
    with Client(redis_url, wait_replicas=1, wait_timeout=0.05) as client:
        with pytest.raises(NotReplicated, match=r"0 of 1 replica\(s\) confirmed") as caught:
            client.enqueue("HardWorker", [1], queue="alone")
        assert caught.value.acked == 0 and caught.value.wanted == 1
        (jid,) = caught.value.jids
        # The job is queued on the primary: the error says so and nothing was lost.
        assert r.llen("queue:alone") == 1 and jid.encode() in _head(r, "queue:alone")
        with pytest.raises(NotReplicated) as many:
            client.enqueue_many("HardWorker", [[1], [2]], queue="alone")
        assert len(many.value.jids) == 2 and r.llen("queue:alone") == 3
        # The client stays usable (the WAIT reply was read in step).
        with pytest.raises(NotReplicated):
            client.enqueue("HardWorker", [3], queue="alone")
    assert r.llen("queue:alone") == 4


async def test_async_short_of_replicas_raises(redis_url: str, r: redis.Redis) -> None:
    async with AsyncClient(redis_url, wait_replicas=2, wait_timeout=0.05) as client:
        with pytest.raises(NotReplicated, match="0 of 2"):
            await client.enqueue("HardWorker", [1], queue="alone")
    assert r.llen("queue:alone") == 1


@pytest.mark.parametrize(
    ("replicas", "timeout", "message"),
    [(-1, 0.5, "wait_replicas"), (True, 0.5, "wait_replicas"), (1, 0, "wait_timeout")],
)
def test_bad_wait_options_are_refused(
    redis_url: str, replicas: int, timeout: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Client(redis_url, wait_replicas=replicas, wait_timeout=timeout)
