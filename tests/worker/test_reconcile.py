"""Stranded fetches and hung connections, against a real Redis.

A fetch whose reply is lost (Redis ran the script or the BLMOVE, then the connection dropped)
must not strand its jobs in a live worker's in-progress list: the manager reconciles its list
with what it holds (``lua/reconcile.lua``). The reply is lost for real: the worker talks to
Redis through :class:`LossyProxy`, a TCP proxy that closes the connection instead of forwarding
one chosen reply. A half-open connection (the server stops answering: SIGSTOP) must not block a
BLMOVE for ever: the worker's client has a socket timeout a little above the block timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections import Counter
from typing import Any

import pytest
import redis
import redis.asyncio

from verk_compat.codec.job import Job, now
from verk_compat.devtools.redis_server import EmbeddedRedis
from verk_compat.keys import Keys
from verk_compat.worker.app import App
from verk_compat.worker.counters import Stats
from verk_compat.worker.fetch import Acker, Fetcher
from verk_compat.worker.launcher import SOCKET_TIMEOUT_MARGIN, Worker, client_options

K = Keys()
ID = "host:123:abcdefabcdef"


def push(r: redis.Redis, job: Job) -> bytes:
    raw = job.replace(enqueued_at=now()).encode()
    r.lpush(K.queue(job.queue or "default"), raw)
    return raw


async def until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout}s")
        await asyncio.sleep(0.02)


class LossyProxy:
    """A TCP proxy in front of a real Redis. :meth:`drop_reply_with` arms it: the next reply
    (server to client chunk) containing the marker is not forwarded, and both sides of that
    connection are closed: Redis ran the command, the client never hears back."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.marker: bytes | None = None
        self.dropped = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    def drop_reply_with(self, marker: bytes) -> None:
        self.marker = marker

    async def start(self) -> LossyProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        sreader, swriter = await asyncio.open_connection("127.0.0.1", self.port)

        async def up() -> None:
            while data := await creader.read(65536):
                swriter.write(data)
                await swriter.drain()

        async def down() -> None:
            while data := await sreader.read(65536):
                if self.marker is not None and self.marker in data:
                    self.marker = None
                    self.dropped += 1
                    return
                cwriter.write(data)
                await cwriter.drain()

        try:
            pumps = [asyncio.ensure_future(up()), asyncio.ensure_future(down())]
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            for writer in (cwriter, swriter):
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
            self._tasks.discard(task)


@pytest.fixture
async def proxy(redis_url: str, redis_server: EmbeddedRedis) -> Any:
    lossy = await LossyProxy(redis_server.port).start()
    yield lossy
    await lossy.close()


def counting_app() -> tuple[App, Counter[int]]:
    app = App()
    ran: Counter[int] = Counter()

    @app.job("Count")
    async def count(i: int) -> None:
        ran[i] += 1

    return app, ran


# -- the script ------------------------------------------------------------------------------


async def test_reconcile_counts_identical_payloads_and_keeps_fetch_order(
    r: redis.Redis, ar: redis.asyncio.Redis
) -> None:
    # Fetched oldest first: X, Y, X, Z (two identical copies of X).
    r.lpush(K.queue("q"), b"X", b"Y", b"X", b"Z")
    fetcher = Fetcher(ar, K, "q", ID)
    assert await fetcher.fetch(4) == [b"X", b"Y", b"X", b"Z"]
    r.lpush(K.queue("q"), b"next")
    # The process holds one X and Z: the other X and Y are strays.
    assert await fetcher.reconcile([b"X", b"Z"]) == 2
    assert sorted(r.lrange(fetcher.inprogress_key, 0, -1)) == [b"X", b"Z"]
    # Back at the pop end, in fetch order (held copies match the oldest ones, so the stray X
    # is the second one, fetched after Y), ahead of the job queued meanwhile.
    assert [r.rpop(K.queue("q")) for _ in range(3)] == [b"Y", b"X", b"next"]
    # Holding everything (or more than is there) moves nothing.
    assert await fetcher.reconcile([b"X", b"Z", b"Z", b"gone"]) == 0
    assert await fetcher.reconcile([]) == 2
    assert r.llen(fetcher.inprogress_key) == 0
    assert [r.rpop(K.queue("q")) for _ in range(2)] == [b"X", b"Z"]


async def test_acker_holds_pending_and_sending_acks(
    r: redis.Redis, ar: redis.asyncio.Redis
) -> None:
    acker = Acker(ar, Stats(K))
    acker.add("ip:a", [b"1", b"2"])
    acker.add("ip:b", [b"3"])
    assert acker.holding("ip:a") == [b"1", b"2"] and acker.holding("ip:b") == [b"3"]
    r.lpush("ip:a", b"1", b"2")
    flush = asyncio.ensure_future(acker.flush())
    await asyncio.sleep(0)  # the batch is on its way: still held until it is sent
    assert acker.holding("ip:a") == [b"1", b"2"]
    assert await flush
    assert acker.holding("ip:a") == [] and r.llen("ip:a") == 0


# -- lost replies, for real ---------------------------------------------------------------------


async def test_lost_fetch_script_reply_does_not_strand_jobs(
    r: redis.Redis, proxy: LossyProxy, caplog: pytest.LogCaptureFixture
) -> None:
    app, ran = counting_app()
    jobs = [Job.new("Count", [i]) for i in range(3)]
    for job in jobs:
        push(r, job)
    # The first fetch moves all three in one script; its reply never arrives.
    proxy.drop_reply_with(str(jobs[0].jid).encode())
    w = Worker(app, {"default": 5}, redis_url=proxy.url, burst=True, beat_interval=0.2)
    with caplog.at_level(logging.WARNING, logger="verk_compat"):
        try:
            await asyncio.wait_for(w.run(), 20)
        finally:
            await w.aclose()
    assert proxy.dropped == 1
    assert ran == Counter({0: 1, 1: 1, 2: 1}), "stranded or doubled"
    assert r.llen(K.queue("default")) == 0 and r.keys("inprogress:*") == []
    messages = [rec.getMessage() for rec in caplog.records]
    assert any("fetch failed" in m for m in messages), messages
    assert any("pushed 3 fetched jobs" in m for m in messages), messages


async def test_lost_blmove_reply_does_not_strand_the_job(r: redis.Redis, proxy: LossyProxy) -> None:
    app, ran = counting_app()
    w = Worker(app, {"default": 2}, redis_url=proxy.url, block_timeout=0.5, beat_interval=0.2)
    task = asyncio.create_task(w.run())
    try:
        # Wait until the worker blocks on the empty queue, then lose the BLMOVE's reply.
        await until(lambda: any(c.get("cmd") == "blmove" for c in r.client_list()))
        job = Job.new("Count", [7])
        proxy.drop_reply_with(str(job.jid).encode())
        push(r, job)
        await until(lambda: ran[7] == 1)
        await until(lambda: r.keys("inprogress:*") == [])
        await asyncio.sleep(0.3)
        assert proxy.dropped == 1
        assert ran == Counter({7: 1}) and r.llen(K.queue("default")) == 0
    finally:
        w.stop()
        await asyncio.wait_for(task, 10)
        await w.aclose()


async def test_periodic_reconcile_picks_up_a_late_stray(r: redis.Redis, redis_url: str) -> None:
    """A command sent on a connection that timed out can still run later (or a client handed in
    retries a fetch by itself): a job then appears in the list with no error to react to. The
    periodic reconcile (every orphan interval) pushes it back; it runs once."""
    app, ran = counting_app()
    w = Worker(app, {"default": 2}, redis_url=redis_url, block_timeout=0.2, orphan_interval=0.3)
    task = asyncio.create_task(w.run())
    try:
        await until(lambda: r.sismember(K.processes, w.identity))
        r.lpush(K.inprogress("default", w.identity), Job.new("Count", [1]).encode())
        await until(lambda: ran[1] == 1, timeout=5)
        await until(lambda: r.keys("inprogress:*") == [])
        assert ran == Counter({1: 1})
    finally:
        w.stop()
        await asyncio.wait_for(task, 10)
        await w.aclose()


async def test_frequent_reconciles_never_touch_held_jobs(r: redis.Redis, redis_url: str) -> None:
    """Reconciling every few milliseconds while jobs are ready, running and being acknowledged
    must push nothing back: every job runs exactly once."""
    app = App()
    ran: Counter[int] = Counter()

    @app.job("Work")
    async def work(i: int, pause: float) -> None:
        await asyncio.sleep(pause)
        ran[i] += 1

    @app.job("SyncWork")
    def sync_work(i: int) -> None:
        time.sleep(0.002)
        ran[i] += 1

    total = 300
    pipe = r.pipeline(transaction=False)
    for i in range(total):
        job = Job.new("Work", [i, 0.01 * (i % 3)]) if i % 2 else Job.new("SyncWork", [i])
        pipe.lpush(K.queue("default"), job.replace(enqueued_at=now()).encode())
    pipe.execute()
    w = Worker(app, {"default": 8}, redis_url=redis_url, burst=True, orphan_interval=0.002)
    try:
        await asyncio.wait_for(w.run(), 30)
    finally:
        await w.aclose()
    assert ran == Counter(range(total)), "a held job was pushed back (ran twice) or lost"
    assert r.keys("inprogress:*") == [] and r.llen(K.queue("default")) == 0


# -- socket options and a server that stops answering ---------------------------------------------


def test_worker_client_from_url_gets_socket_options(redis_url: str) -> None:
    w = Worker(App(), {"default": 1}, redis_url=redis_url, block_timeout=2.0)
    kwargs = w.redis.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == 2.0 + SOCKET_TIMEOUT_MARGIN
    assert kwargs["socket_connect_timeout"] == SOCKET_TIMEOUT_MARGIN
    assert kwargs["socket_keepalive"] is True
    assert kwargs["health_check_interval"] == 30
    assert client_options(10.0)["socket_timeout"] == 15.0
    # Options in the URL win.
    w = Worker(App(), {"default": 1}, redis_url=redis_url + "?socket_timeout=30")
    assert w.redis.connection_pool.connection_kwargs["socket_timeout"] == 30.0
    # A client handed in is used as it is.
    mine = redis.asyncio.Redis.from_url(redis_url, socket_timeout=42)
    w = Worker(App(), {"default": 1}, redis=mine)
    assert w.redis is mine and mine.connection_pool.connection_kwargs["socket_timeout"] == 42


@pytest.mark.slow
async def test_blocked_fetch_gives_up_when_the_server_stops_answering() -> None:
    """SIGSTOP the server while a BLMOVE blocks: the TCP connection stays open but nothing
    comes back. The fetch must fail within block timeout + margin, not hang; after SIGCONT the
    same client works again."""
    block = 0.5
    with EmbeddedRedis() as server:
        pid = server._proc.pid  # type: ignore[union-attr]
        client = redis.asyncio.Redis.from_url(server.url, **client_options(block))
        fetcher = Fetcher(client, K, "q", ID)
        try:
            assert await fetcher.wait_one(block) is None  # connected, blocking works
            fetch = asyncio.ensure_future(fetcher.wait_one(block))
            await asyncio.sleep(0.1)
            os.kill(pid, signal.SIGSTOP)
            began = time.monotonic()
            try:
                with pytest.raises((redis.TimeoutError, redis.ConnectionError)):
                    await asyncio.wait_for(fetch, block + SOCKET_TIMEOUT_MARGIN + 5)
                waited = time.monotonic() - began
            finally:
                os.kill(pid, signal.SIGCONT)
            assert waited <= block + SOCKET_TIMEOUT_MARGIN + 1.0, waited
            sync = redis.Redis.from_url(server.url)
            sync.lpush(K.queue("q"), b"after")
            sync.close()
            assert await fetcher.wait_one(block) == b"after"
        finally:
            await client.aclose()
