"""AsyncClient's connections: the same guarantees as the sync Client's (tests/test_client_conn.py).

The held connection (single-push fast path) and the pool path (a task finding the line busy):
exact bytes, ACL/db/name, TLS, reconnects after CLIENT KILL, no re-send once written (even on a
``redis.asyncio.Redis`` whose connections retry 10 times, redis-py 8's default), error replies,
cancellation, many tasks, a new event loop.
"""

from __future__ import annotations

import asyncio
import gc
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry

from tests.support.replies import zmembers
from verk_compat.client.async_client import AsyncClient
from verk_compat.devtools.redis_server import EmbeddedRedis
from verk_compat.errors import RedisUnavailable

# A Lua script that keeps the server busy for ARGV[1] seconds (no DEBUG SLEEP needed).
_BUSY = """
local t0 = redis.call('TIME')
local limit = tonumber(ARGV[1]) * 1e6
while true do
  local t = redis.call('TIME')
  if (t[1] - t0[1]) * 1e6 + (t[2] - t0[2]) > limit then return 1 end
end
"""


class CountingConnection(redis.asyncio.Connection):
    """A real asyncio connection that counts how many times it writes to its stream."""

    sends = 0

    async def _connect(self) -> None:
        # redis-py leaves ``_connect`` unannotated; the override only wraps the writer.
        await super()._connect()  # type: ignore[no-untyped-call]
        self._writer = _CountingWriter(self._writer)  # type: ignore[assignment]


class _CountingWriter:
    """A StreamWriter whose ``write`` and ``writelines`` calls are counted."""

    def __init__(self, writer: Any) -> None:
        self._writer = writer

    def write(self, data: bytes) -> None:
        CountingConnection.sends += 1
        self._writer.write(data)

    def writelines(self, data: Any) -> None:
        CountingConnection.sends += 1
        self._writer.writelines(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._writer, name)


@pytest.fixture
async def retrying(redis_server: EmbeddedRedis) -> AsyncIterator[redis.asyncio.Redis]:
    """``Redis(host=..., port=...)`` as users write it: its connections retry 10 times."""
    where: dict[str, Any] = {"host": redis_server.host, "port": redis_server.port}
    where["socket_timeout"] = 0.3
    client = redis.asyncio.Redis(**where)
    if _retries(client) != 10:  # redis-py 5.x retries nothing by default: say it outright
        await client.aclose()
        errors: list[type[Exception]] = [redis.ConnectionError, redis.TimeoutError]
        retry = AsyncRetry(ExponentialBackoff(), 10)
        client = redis.asyncio.Redis(**where, retry=retry, retry_on_error=errors)
    assert _retries(client) == 10
    client.connection_pool.connection_class = CountingConnection
    yield client
    await client.aclose()


def _retries(client: redis.asyncio.Redis) -> int:
    # redis-py leaves the asyncio pool's ``make_connection`` unannotated.
    retry: Any = client.connection_pool.make_connection().retry  # type: ignore[no-untyped-call]
    # ``get_retries`` came in redis-py 5.1.
    return int(retry.get_retries() if hasattr(retry, "get_retries") else retry._retries)


async def _line_id(client: AsyncClient) -> int:
    """Server-side id of the connection an AsyncClient holds for its pushes."""
    line: Any = client._line
    assert line is not None and line.is_connected
    await line.send_command("CLIENT", "ID")
    return int(await line.read_response())


def _on_pool(client: AsyncClient) -> None:
    """Make the client take the pool path, as a task does that finds the line busy."""
    client._busy = True


def _jids(r: redis.Redis, *keys: str) -> list[str]:
    return [json.loads(p)["jid"] for key in keys for p in r.lrange(key, 0, -1)]


async def test_one_round_trip_per_call(redis_server: EmbeddedRedis, r: redis.Redis) -> None:
    pool = redis.asyncio.ConnectionPool(
        host=redis_server.host, port=redis_server.port, connection_class=CountingConnection
    )
    ar = redis.asyncio.Redis(connection_pool=pool)
    async with AsyncClient(redis=ar) as client:
        await client.enqueue("W", [0])  # connects (handshake) once
        CountingConnection.sends = 0
        for i in range(1, 4):
            await client.enqueue("W", [i], queue="q")
        await client.enqueue_in(-1, "W", [4])
        await client.enqueue_in(100, "W", [5])
        assert CountingConnection.sends == 5
        await client.enqueue_many("W", [[i] for i in range(10)])
        assert CountingConnection.sends == 6
    assert r.llen("queue:q") == 3 and r.llen("queue:default") == 12
    await ar.aclose()


@pytest.mark.parametrize("namespace", [None, "ns"])
@pytest.mark.parametrize("queue", ["default", "crit ical", "файлы-ü", "q:with:colons"])
async def test_packed_push_is_what_redis_py_sends(
    redis_url: str, r: redis.Redis, queue: str, namespace: str | None
) -> None:
    async with AsyncClient(redis_url, namespace=namespace) as client:
        await client.enqueue("W", [0], queue=queue)  # makes the line
        jid, write = client.planner.enqueue_write("W", [1, "x"], {"queue": queue, "retry": 2})
        line = client._line
        packed = client._packer.pack(line, [write])
        assert packed == [b"".join(line.pack_commands(write.commands()))]
        await client._run([write])
    (raw, _) = r.lrange(write.key, 0, -1)
    assert raw == write.args[0]
    assert json.loads(raw)["jid"] == jid


async def test_line_uses_acl_user_db_and_client_name(
    redis_server: EmbeddedRedis, r: redis.Redis, acl_user: tuple[str, str]
) -> None:
    name, password = acl_user
    base = f"{redis_server.host}:{redis_server.port}"
    url = f"redis://{name}:{password}@{base}/3?client_name=verk-aline"
    async with AsyncClient(url) as client:
        await client.enqueue("W", ["acl"])
        me = await _line_id(client)
        (info,) = [c for c in r.client_list() if int(c["id"]) == me]
        assert (info["user"], info["name"], info["db"]) == (name, "verk-aline", "3")
        _on_pool(client)
        await client.enqueue("W", ["acl-pool"])
    db3 = redis.Redis(host=redis_server.host, port=redis_server.port, db=3)
    assert db3.llen("queue:default") == 2 and r.llen("queue:default") == 0
    db3.flushdb()
    db3.close()


async def test_wrong_password_is_a_clear_unavailable(
    redis_server: EmbeddedRedis, acl_user: tuple[str, str]
) -> None:
    name, password = acl_user
    url = f"redis://{name}:nope-{password}@{redis_server.host}:{redis_server.port}/0"
    async with AsyncClient(url) as client:
        with pytest.raises(RedisUnavailable, match="refused the credentials") as info:
            await client.enqueue("W", [])
        with pytest.raises(RedisUnavailable, match="refused the credentials"):
            await client.enqueue_many("W", [[1]])
    assert password not in str(info.value)
    assert f"Redis at {redis_server.host}:{redis_server.port}" in str(info.value)


async def test_tls_line_reconnects_after_kill(tls_redis: tuple[int, Path]) -> None:
    port, cert = tls_redis
    async with AsyncClient(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}") as client:
        await client.enqueue("W", [1])
        assert isinstance(client._line, redis.asyncio.SSLConnection)
        admin = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(cert))
        try:
            admin.client_kill_filter(_id=str(await _line_id(client)))
            await client.enqueue("W", [2])
            assert admin.llen("queue:default") == 2
        finally:
            admin.flushall()
            admin.close()


@pytest.mark.parametrize("settle", [False, True], ids=["kill-unseen", "kill-seen"])
@pytest.mark.parametrize("pool", [False, True], ids=["line", "pool"])
async def test_killed_connection_reconnects_without_double_push(
    r: redis.Redis, redis_url: str, settle: bool, pool: bool
) -> None:
    """CLIENT KILL between calls: the FIN either still in the socket or seen by the loop."""
    async with AsyncClient(redis_url) as client:
        if pool:
            _on_pool(client)
        jids = [await client.enqueue("W", [0])]
        for i in range(1, 4):
            r.client_kill_filter(_type="normal", skipme=True)  # blocks the event loop
            if settle:
                await asyncio.sleep(0.05)  # the loop reads the FIN
            jids.append(await client.enqueue("W", [i]))
            jids.append(await client.schedule("W", [i], at=time.time() + 100))
    pushed = _jids(r, "queue:default")
    pushed += [json.loads(m)["jid"] for m in zmembers(r, "schedule")]
    assert sorted(pushed) == sorted(jids)


@pytest.mark.parametrize("call", ["enqueue", "enqueue_many", "schedule"])
@pytest.mark.parametrize("pool", [False, True], ids=["line", "pool"])
async def test_failure_after_the_write_is_not_retried(
    r: redis.Redis,
    redis_server: EmbeddedRedis,
    retrying: redis.asyncio.Redis,
    call: str,
    pool: bool,
) -> None:
    async with AsyncClient(redis=retrying) as client:
        if pool:
            _on_pool(client)
        await client.enqueue("W", [0])  # connected before counting
        push: dict[str, Callable[[], Awaitable[object]]] = {
            "enqueue": lambda: client.enqueue("W", [1]),
            "enqueue_many": lambda: client.enqueue_many("W", [[1], [2]]),
            "schedule": lambda: client.schedule("W", [1], at=time.time() + 100),
        }
        CountingConnection.sends = 0
        r.client_pause(1000, all=False)  # WRITE only
        try:
            with pytest.raises(RedisUnavailable, match="may or may not have run") as info:
                await push[call]()
        finally:
            r.client_unpause()
        assert CountingConnection.sends == 1  # written once, never re-sent
        assert f"Redis at {redis_server.host}:{redis_server.port} timed out" in str(info.value)
        await client.enqueue("W", [9])  # a fresh connection works again
    assert r.llen("queue:default") >= 2


@pytest.mark.parametrize("pool", [False, True], ids=["line", "pool"])
async def test_lost_reply_is_not_pushed_twice(
    r: redis.Redis, redis_server: EmbeddedRedis, retrying: redis.asyncio.Redis, pool: bool
) -> None:
    """The push runs but its reply is lost: redis-py's retry would push the job again."""
    async with AsyncClient(redis=retrying) as client:
        if pool:
            _on_pool(client)
        await client.enqueue("W", [0])
        # Its own client, with no read timeout: redis-py 8 reads with 5 s by default, which a
        # loaded machine can exceed while the script holds the server.
        blocker = redis.Redis(host=redis_server.host, port=redis_server.port, socket_timeout=60)
        busy = threading.Thread(target=blocker.eval, args=(_BUSY, 0, 2.0))
        busy.start()
        _wait_until_busy(redis_server)
        try:
            with pytest.raises(RedisUnavailable, match="may or may not have run"):
                await client.enqueue("W", [1])  # written; the read times out (0.3 s)
        finally:
            busy.join()
            blocker.close()
        deadline = time.monotonic() + 2
        while r.llen("queue:default") < 2 and time.monotonic() < deadline:
            time.sleep(0.02)  # the server runs the push of the closed connection now
        await client.enqueue("W", [2])
    args = [json.loads(p)["args"] for p in r.lrange("queue:default", 0, -1)]
    assert args.count([1]) <= 1  # at most once (here: once, after the script)
    assert args.count([0]) == args.count([2]) == 1


def _wait_until_busy(server: EmbeddedRedis) -> None:
    """Return once a PING gets no reply for 0.25 s (a server that answers in microseconds is
    busy then); no retries: redis-py's would wait the script out."""
    probe = redis.Redis(
        host=server.host, port=server.port, socket_timeout=0.25, retry=Retry(NoBackoff(), 0)
    )
    deadline = time.monotonic() + 5
    try:
        while time.monotonic() < deadline:
            try:
                probe.ping()
            except redis.TimeoutError:
                return
            time.sleep(0.005)
        pytest.fail("the server never got busy")
    finally:
        probe.close()


async def test_cancelled_between_write_and_read(r: redis.Redis, redis_url: str) -> None:
    async with AsyncClient(redis_url) as client:
        await client.enqueue("W", [0])
        r.client_pause(1000, all=False)
        try:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(client.enqueue("W", [1]), 0.1)
        finally:
            r.client_unpause()
        assert client._line is not None and not client._line.is_connected  # out of step: dropped
        jid = await client.enqueue("W", [2])  # replies line up on a fresh connection
    assert jid in _jids(r, "queue:default")


@pytest.mark.parametrize("pool", [False, True], ids=["line", "pool"])
async def test_error_replies_are_clear_and_leave_the_client_usable(
    redis_server: EmbeddedRedis, r: redis.Redis, redis_url: str, pool: bool
) -> None:
    r.set("queue:broken", "not a list")
    async with AsyncClient(redis_url) as client:
        if pool:
            _on_pool(client)
        for _ in range(2):
            with pytest.raises(redis.ResponseError, match="WRONGTYPE") as info:
                await client.enqueue("W", [1], queue="broken")
            message = str(info.value)
            assert f"Redis at {redis_server.host}:{redis_server.port}" in message
            assert "LPUSH queue:broken" in message
            await client.enqueue("W", [2])
        with pytest.raises(redis.ResponseError, match="LPUSH queue:broken"):
            await client.enqueue_many("W", [[1], [2]], queue="broken")
        r.set("schedule", "not a zset")
        with pytest.raises(redis.ResponseError, match="ZADD schedule"):
            await client.schedule("W", [1], at=time.time() + 100)
        await client.enqueue("W", [3])
    assert r.llen("queue:default") == 3
    assert r.smembers("queues") == {b"broken", b"default"}  # Sidekiq's SADD ran, as in Ruby


async def test_noperm_reply_names_the_command(
    redis_server: EmbeddedRedis, r: redis.Redis, acl_user: tuple[str, str]
) -> None:
    name, password = acl_user
    r.acl_setuser(name, enabled=True, commands=["-lpush"])
    url = f"redis://{name}:{password}@{redis_server.host}:{redis_server.port}/0"
    async with AsyncClient(url) as client:
        with pytest.raises(redis.exceptions.NoPermissionError, match="LPUSH queue:default"):
            await client.enqueue("W", [1])
        with pytest.raises(redis.exceptions.NoPermissionError):
            await client.enqueue("W", [2])  # in step: the same clear error again
        await client.schedule("W", [3], at=time.time() + 100)  # ZADD is still allowed
    assert r.llen("queue:default") == 0 and r.zcard("schedule") == 1


async def test_tasks_push_every_job_exactly_once(r: redis.Redis, redis_url: str) -> None:
    tasks, per_task = 40, 100
    jids: list[list[str]] = [[] for _ in range(tasks)]
    async with AsyncClient(redis_url) as client:

        async def push(n: int) -> None:
            for i in range(per_task):
                jids[n].append(await client.enqueue("W", [n, i], queue=f"q{n % 3}"))
                if i % 25 == 0:
                    jids[n] += await client.enqueue_many("W", [[n, i, 0], [n, i, 1]])

        await asyncio.gather(*(push(n) for n in range(tasks)))
        held = client._line
        assert held is not None and held.is_connected
    pushed = _jids(r, "queue:q0", "queue:q1", "queue:q2", "queue:default")
    assert len(pushed) == tasks * (per_task + 8)
    assert sorted(pushed) == sorted(j for js in jids for j in js)


async def test_aclose_drops_the_line(r: redis.Redis, redis_url: str) -> None:
    client = AsyncClient(redis_url)
    await client.enqueue("W", [1])
    me = await _line_id(client)
    await client.aclose()
    assert me not in [int(c["id"]) for c in r.client_list()]
    await client.enqueue("W", [2])  # reconnects on use, like redis-py
    await client.aclose()
    assert r.llen("queue:default") == 2


@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_new_event_loop_gets_a_new_line(r: redis.Redis, redis_url: str) -> None:
    client = AsyncClient(redis_url)
    asyncio.run(client.enqueue("W", [1]))
    asyncio.run(client.enqueue("W", [2]))  # the old loop's line is abandoned, not written to
    asyncio.run(client.aclose())
    gc.collect()  # the abandoned transport is closed here, under this test's filters
    assert [json.loads(p)["args"] for p in r.lrange("queue:default", 0, -1)] == [[2], [1]]


class _PlainTransportConnection(redis.asyncio.Connection):
    """A connection whose stream's transport lacks asyncio's buffer API (as fakeredis's)."""

    async def _connect(self) -> None:
        await super()._connect()  # type: ignore[no-untyped-call]
        self._writer = _PlainWriter(self._writer)  # type: ignore[assignment]


class _PlainWriter:
    def __init__(self, writer: Any) -> None:
        self._writer = writer
        self.transport = object()  # no get_write_buffer_size, no get_extra_info

    def __getattr__(self, name: str) -> Any:
        return getattr(self._writer, name)


async def test_a_connection_without_the_private_stream_uses_the_public_api(
    redis_server: EmbeddedRedis, r: redis.Redis
) -> None:
    pool = redis.asyncio.ConnectionPool(
        host=redis_server.host, port=redis_server.port, connection_class=_PlainTransportConnection
    )
    async with AsyncClient(redis=redis.asyncio.Redis(connection_pool=pool)) as client:
        first = await client.enqueue("W", [1])
        second = await client.enqueue("W", [2])
        _on_pool(client)
        third = await client.enqueue("W", [3])
    await pool.aclose()
    assert _jids(r, "queue:default") == [third, second, first]
