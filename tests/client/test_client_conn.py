"""How the clients connect: URL or client, AUTH/ACL, TLS, errors, round trips per enqueue.

Also the Client's held connection (its single-push fast path): exact bytes, ACL/db/name, TLS,
reconnects after CLIENT KILL, no retry once written, error replies, threads.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio

from verk_compat.client.async_client import AsyncClient
from verk_compat.client.client import Client
from verk_compat.codec.job import Job
from verk_compat.devtools.redis_server import EmbeddedRedis, free_port
from verk_compat.errors import RedisUnavailable


class CountingConnection(redis.Connection):
    """A real connection that counts how many times it writes to the socket."""

    sends = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).sends += 1
        # redis-py leaves this hook unannotated; the override only counts the writes.
        super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]


def test_one_round_trip_per_enqueue(redis_server: EmbeddedRedis, r: redis.Redis) -> None:
    pool = redis.ConnectionPool(
        host=redis_server.host, port=redis_server.port, connection_class=CountingConnection
    )
    client = Client(redis=redis.Redis(connection_pool=pool))
    client.enqueue("W", [0])  # connects (handshake) once
    CountingConnection.sends = 0
    for i in range(1, 4):
        client.enqueue("W", [i], queue="q")
    client.enqueue_in(-1, "W", [4])
    client.enqueue_in(100, "W", [5])
    assert CountingConnection.sends == 5
    client.enqueue_many("W", [[i] for i in range(10)])
    assert CountingConnection.sends == 6
    assert r.llen("queue:q") == 3
    pool.disconnect()


def test_existing_client_is_not_closed(r: redis.Redis) -> None:
    with Client(redis=r) as client:
        client.enqueue("W", [])
    assert r.ping() and r.llen("queue:default") == 1


def test_redis_url_from_environment(
    redis_url: str, r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    with Client() as client:
        client.enqueue("W", [])
    assert r.llen("queue:default") == 1


def test_unreachable_names_host_never_password() -> None:
    port = free_port()
    with Client(f"redis://user:s3cr3tpw@127.0.0.1:{port}/0") as client:
        with pytest.raises(RedisUnavailable, match=f"Redis at 127.0.0.1:{port}") as info:
            client.enqueue("W", [])
        with pytest.raises(RedisUnavailable):
            client.enqueue_many("W", [[1]])
    assert "s3cr3tpw" not in str(info.value)
    assert isinstance(info.value, ConnectionError)


def test_acl_user_and_password(
    redis_server: EmbeddedRedis, r: redis.Redis, acl_user: tuple[str, str]
) -> None:
    name, password = acl_user
    base = f"{redis_server.host}:{redis_server.port}/0"
    with Client(f"redis://{name}:{password}@{base}") as client:
        client.enqueue("W", ["acl"])
    assert r.llen("queue:default") == 1
    bad = Client(f"redis://{name}:wrong-{password}@{base}")
    with bad, pytest.raises(RedisUnavailable) as info:
        bad.enqueue("W", [])
    assert password not in str(info.value)


async def test_acl_async(
    redis_server: EmbeddedRedis, r: redis.Redis, acl_user: tuple[str, str]
) -> None:
    name, password = acl_user
    url = f"redis://{name}:{password}@{redis_server.host}:{redis_server.port}/0"
    async with AsyncClient(url) as client:
        await client.enqueue("W", ["acl"])
    assert r.llen("queue:default") == 1


def test_rediss_url_builds_ssl_connections() -> None:
    client = Client("rediss://u:p@example.invalid:6380/2?ssl_cert_reqs=none")
    pool = client.redis.connection_pool
    assert issubclass(pool.connection_class, redis.SSLConnection)
    assert pool.connection_kwargs["username"] == "u"
    assert pool.connection_kwargs["db"] == 2
    aclient = AsyncClient("rediss://example.invalid:6380/0")
    assert issubclass(aclient.redis.connection_pool.connection_class, redis.asyncio.SSLConnection)


def test_tls_server(tls_redis: tuple[int, Path]) -> None:
    port, cert = tls_redis
    url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}"
    with Client(url) as client:
        jid = client.enqueue("W", ["tls"])
        assert client.redis.lindex("queue:default", 0) is not None
        client.redis.flushall()
    plain = Client(f"redis://127.0.0.1:{port}/0")  # no TLS: refused
    with plain, pytest.raises(RedisUnavailable):
        plain.enqueue("W", [])
    assert len(jid) == 24


async def test_tls_server_async(tls_redis: tuple[int, Path]) -> None:
    port, cert = tls_redis
    async with AsyncClient(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}") as client:
        await client.enqueue("W", ["tls"])
        assert await client.redis.llen("queue:default") == 1
        await client.redis.flushall()


def test_error_reply_keeps_the_connection_in_step(r: redis.Redis) -> None:
    r.set("queue:broken", "not a list")
    with Client(
        redis=redis.Redis(connection_pool=redis.ConnectionPool(max_connections=1, **_kw(r)))
    ) as client:
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            client.enqueue("W", [1], queue="broken")
        client.enqueue("W", [2])  # same single connection: replies still line up
        assert client.redis.ping()
    assert r.llen("queue:default") == 1
    assert r.smembers("queues") == {b"broken", b"default"}  # Sidekiq's SADD ran, as in Ruby


def test_reconnects_after_the_connection_is_killed(r: redis.Redis) -> None:
    with Client(redis=redis.Redis(**_kw(r))) as client:
        client.enqueue("W", [1])
        r.client_kill_filter(_type="normal", skipme=True)
        client.enqueue("W", [2])
    assert r.llen("queue:default") == 2


def _kw(r: redis.Redis) -> dict[str, Any]:
    kwargs = r.connection_pool.connection_kwargs
    return {"host": kwargs["host"], "port": kwargs["port"], "db": kwargs.get("db", 0)}


# --- The held connection (fast path of single pushes) ---------------------------------------


def _line_id(client: Client) -> int:
    """Server-side id of the connection a Client holds for its pushes."""
    line: Any = client._line
    # ``is_connected`` came in redis-py 6; 5.x keeps the socket in ``_sock``.
    assert line is not None and getattr(line, "is_connected", line._sock is not None)
    line.send_command("CLIENT", "ID")
    return int(line.read_response())


@pytest.mark.parametrize("namespace", [None, "ns"])
@pytest.mark.parametrize("queue", ["default", "crit ical", "файлы-ü", "q:with:colons"])
def test_packed_push_is_what_redis_py_sends(
    redis_url: str, r: redis.Redis, queue: str, namespace: str | None
) -> None:
    with Client(redis_url, namespace=namespace) as client:
        client.enqueue("W", [0], queue=queue)  # makes the line
        jid, write = client.planner.enqueue_write("W", [1, "x"], {"queue": queue, "retry": 2})
        line = client._line
        assert client._pack(line, [write]) == [b"".join(line.pack_commands(write.commands()))]
        client._run([write])
    (raw, _) = r.lrange(write.key, 0, -1)
    assert raw == write.args[0]
    assert json.loads(raw)["jid"] == jid


def test_pushed_payload_is_the_codec_encoding(r: redis.Redis, redis_url: str) -> None:
    with Client(redis_url) as client:
        client.enqueue(
            "W", [1, "two", 3.0, None, {"k": [True]}], queue="q", retry=3, extra={"tag": "x"}
        )
    (raw,) = r.lrange("queue:q", 0, -1)
    got = json.loads(raw)
    job = Job.new(
        "W",
        [1, "two", 3.0, None, {"k": [True]}],
        queue="q",
        retry=3,
        tag="x",
        jid=got["jid"],
        created_at=got["created_at"],
    ).replace(enqueued_at=got["enqueued_at"])
    assert raw == job.encode("sidekiq7")


def test_line_uses_acl_user_db_and_client_name(
    redis_server: EmbeddedRedis, r: redis.Redis, acl_user: tuple[str, str]
) -> None:
    name, password = acl_user
    base = f"{redis_server.host}:{redis_server.port}"
    url = f"redis://{name}:{password}@{base}/3?client_name=verk-line"
    with Client(url) as client:
        client.enqueue("W", ["acl"])
        me = _line_id(client)
        (info,) = [c for c in r.client_list() if int(c["id"]) == me]
        assert (info["user"], info["name"], info["db"]) == (name, "verk-line", "3")
    db3 = redis.Redis(host=redis_server.host, port=redis_server.port, db=3)
    assert db3.llen("queue:default") == 1 and r.llen("queue:default") == 0
    db3.flushdb()
    db3.close()


def test_wrong_password_is_a_clear_unavailable(
    redis_server: EmbeddedRedis, acl_user: tuple[str, str]
) -> None:
    name, password = acl_user
    url = f"redis://{name}:nope-{password}@{redis_server.host}:{redis_server.port}/0"
    with Client(url) as client, pytest.raises(RedisUnavailable, match="refused the credentials"):
        client.enqueue("W", [])


def test_tls_line_reconnects_after_kill(tls_redis: tuple[int, Path]) -> None:
    port, cert = tls_redis
    with Client(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}") as client:
        client.enqueue("W", [1])
        assert isinstance(client._line, redis.SSLConnection)
        admin = client.redis
        admin.client_kill_filter(_id=str(_line_id(client)))
        client.enqueue("W", [2])
        assert admin.llen("queue:default") == 2
        admin.flushall()


def test_killed_line_reconnects_without_double_push(r: redis.Redis, redis_url: str) -> None:
    with Client(redis_url) as client:
        jids = [client.enqueue("W", [0])]
        for i in range(1, 4):
            r.client_kill_filter(_id=str(_line_id(client)))
            jids.append(client.enqueue("W", [i]))
    payloads = [json.loads(p) for p in r.lrange("queue:default", 0, -1)]
    assert sorted(p["jid"] for p in payloads) == sorted(jids)


def test_failure_after_the_write_is_not_retried(
    r: redis.Redis, redis_server: EmbeddedRedis
) -> None:
    pool = redis.ConnectionPool(
        host=redis_server.host,
        port=redis_server.port,
        socket_timeout=0.3,
        connection_class=CountingConnection,
    )
    with Client(redis=redis.Redis(connection_pool=pool)) as client:
        client.enqueue("W", [0])
        CountingConnection.sends = 0
        r.client_pause(1000, all=False)  # WRITE only
        try:
            with pytest.raises(RedisUnavailable, match="may or may not have run") as info:
                client.enqueue("W", [1])
        finally:
            r.client_unpause()
        assert CountingConnection.sends == 1  # written once, never re-sent
        assert f"{redis_server.host}:{redis_server.port} timed out" in str(info.value)
        assert r.llen("queue:default") in (1, 2)  # the push may or may not have run
        before = r.llen("queue:default")
        client.enqueue("W", [2])  # a fresh connection works again
    assert r.llen("queue:default") == before + 1
    pool.disconnect()


def test_error_replies_are_clear_and_leave_the_line_usable(
    redis_server: EmbeddedRedis, r: redis.Redis, redis_url: str
) -> None:
    r.set("queue:broken", "not a list")
    with Client(redis_url) as client:
        for _ in range(2):
            with pytest.raises(redis.ResponseError, match="WRONGTYPE") as info:
                client.enqueue("W", [1], queue="broken")
            message = str(info.value)
            assert f"Redis at {redis_server.host}:{redis_server.port}" in message
            assert "LPUSH queue:broken" in message
            client.enqueue("W", [2])
        assert r.llen("queue:default") == 2


def test_noperm_reply_names_the_command(
    redis_server: EmbeddedRedis, r: redis.Redis, acl_user: tuple[str, str]
) -> None:
    name, password = acl_user
    r.acl_setuser(name, enabled=True, commands=["-lpush"])
    url = f"redis://{name}:{password}@{redis_server.host}:{redis_server.port}/0"
    with Client(url) as client:
        with pytest.raises(redis.exceptions.NoPermissionError, match="LPUSH queue:default"):
            client.enqueue("W", [1])
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.enqueue("W", [2])  # in step: the same clear error again
    assert r.llen("queue:default") == 0


def test_threads_push_every_job_exactly_once(r: redis.Redis, redis_url: str) -> None:
    threads, per_thread = 8, 250
    with Client(redis_url) as client:
        jids: list[list[str]] = [[] for _ in range(threads)]

        def push(n: int) -> None:
            for i in range(per_thread):
                jids[n].append(client.enqueue("W", [n, i], queue=f"q{n % 3}"))

        workers = [threading.Thread(target=push, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    pushed = [json.loads(p)["jid"] for q in range(3) for p in r.lrange(f"queue:q{q}", 0, -1)]
    assert len(pushed) == threads * per_thread
    assert sorted(pushed) == sorted(j for js in jids for j in js)


def test_close_drops_the_line(r: redis.Redis, redis_url: str) -> None:
    client = Client(redis_url)
    client.enqueue("W", [1])
    me = _line_id(client)
    client.close()
    assert me not in [int(c["id"]) for c in r.client_list()]
    client.enqueue("W", [2])  # reconnects on use, like redis-py
    client.close()
    assert r.llen("queue:default") == 2
