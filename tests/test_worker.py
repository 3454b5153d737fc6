"""The worker runtime in-process against a real Redis: jobs, failures, events, shutdown."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import msgspec
import pytest
import redis
import redis.asyncio

from verk_compat.app import App
from verk_compat.codec import Job, now
from verk_compat.embedded import EmbeddedRedis
from verk_compat.events import JobFailed, JobFinished, JobStarted
from verk_compat.keys import Keys
from verk_compat.middleware import JobContext
from verk_compat.worker import Worker

K = Keys()


def push(r: redis.Redis, job: Job) -> bytes:
    raw = job.replace(enqueued_at=now()).encode()
    r.lpush(K.queue(job.queue or "default"), raw)
    return raw


def worker(app: App, redis_url: str, queues: dict[str, int] | None = None, **kw: Any) -> Worker:
    options: dict[str, Any] = {"burst": True, "block_timeout": 0.2, "beat_interval": 0.2}
    options.update(kw)
    return Worker(app, queues or {"default": 5}, redis_url=redis_url, **options)


async def run(w: Worker) -> None:
    try:
        await asyncio.wait_for(w.run(), 20)
    finally:
        await w.aclose()


async def test_async_and_sync_functions_and_classes_run(r: redis.Redis, redis_url: str) -> None:
    app = App()
    seen: list[tuple[str, list[Any]]] = []

    @app.job("AsyncJob")
    async def async_job(a: int, b: str) -> None:
        seen.append(("async", [a, b]))

    @app.job("SyncJob")
    def sync_job(x: dict[str, Any]) -> None:
        assert threading.current_thread() is not threading.main_thread()
        seen.append(("sync", [x]))

    @app.job("Billing::Charge")
    class Charge:
        def perform(self, n: int) -> None:
            seen.append(("perform", [n]))

        async def refund(self, n: int) -> None:
            seen.append(("refund", [n]))

    push(r, Job.new("AsyncJob", [1, "two"]))
    push(r, Job.new("SyncJob", [{"k": [1, 2]}]))
    push(r, Job.new("Billing::Charge", [3]))
    push(r, Job.new("Billing::Charge", [4], function="refund"))
    await run(worker(app, redis_url))
    assert sorted(seen) == sorted(
        [("async", [1, "two"]), ("sync", [{"k": [1, 2]}]), ("perform", [3]), ("refund", [4])]
    )
    assert int(r.get(K.stat_processed) or 0) == 4
    assert r.get(K.stat_failed) is None
    assert r.keys("inprogress:*") == []


async def test_failure_goes_to_retry_with_sidekiq_fields(r: redis.Redis, redis_url: str) -> None:
    app = App()

    @app.job("Failing")
    def failing(n: int) -> None:
        raise ValueError(f"bad {n}")

    push(r, Job.new("Failing", [7], backtrace=True))
    before = time.time()
    await run(worker(app, redis_url))
    [(member, score)] = r.zrange(K.retry, 0, -1, withscores=True)
    job = Job.decode(member)
    assert job.args == [7]
    assert (job.error_class, job.error_message, job.retry_count) == ("ValueError", "bad 7", 0)
    assert job.error_backtrace
    assert before + 15 <= score <= time.time() + 24
    assert int(r.get(K.stat_processed) or 0) == 1
    assert int(r.get(K.stat_failed) or 0) == 1
    assert r.keys("inprogress:*") == []


async def test_unknown_class_and_retry_rules(r: redis.Redis, redis_url: str) -> None:
    app = App()

    @app.job("Failing")
    def failing() -> None:
        raise RuntimeError("x")

    push(r, Job.new("os.system", ["echo pwned"]))
    r.lpush(K.queue("default"), b'{"class":"Nope","args":[],"jid":"nokey","queue":"default"}')
    push(r, Job.new("Failing", [], retry=False))
    push(r, Job.new("Failing", [], retry=0, jid="zero" * 6))
    await run(worker(app, redis_url))
    [retried] = [Job.decode(m) for m in r.zrange(K.retry, 0, -1)]
    assert retried.class_name == "os.system"
    assert retried.error_class == "verk_compat.UnknownJob"
    assert "os.system" in (retried.error_message or "")
    [dead] = [Job.decode(m) for m in r.zrange(K.dead, 0, -1)]
    assert dead.jid == "zero" * 6
    assert int(r.get(K.stat_failed) or 0) == 4
    assert r.keys("inprogress:*") == []


async def test_undecodable_payload_goes_to_dead_untouched(r: redis.Redis, redis_url: str) -> None:
    junk = b'{"class": 12, not json'
    r.lpush(K.queue("default"), junk)
    await run(worker(App(), redis_url))
    assert r.zrange(K.dead, 0, -1) == [junk]
    assert r.keys("inprogress:*") == []


async def test_events_and_middleware(r: redis.Redis, redis_url: str) -> None:
    app = App()
    events: list[str] = []
    order: list[str] = []

    @app.job("Ok")
    async def ok() -> None:
        order.append("job")

    @app.job("Bad")
    async def bad() -> None:
        raise KeyError("k")

    @app.events.subscribe
    def record(event: JobStarted | JobFinished | JobFailed) -> None:
        events.append(f"{type(event).__name__}:{event.job.class_name}")

    @app.events.subscribe
    def broken(event: object) -> None:
        raise RuntimeError("handler bug")

    async def outer(ctx: JobContext, call_next: Any) -> None:
        order.append(f"outer:{ctx.job.class_name}:{ctx.queue}")
        await call_next()
        order.append("outer-after")

    async def inner(ctx: JobContext, call_next: Any) -> None:
        order.append("inner")
        await call_next()

    app.middleware += [outer, inner]
    push(r, Job.new("Ok", []))
    await run(worker(app, redis_url))
    push(r, Job.new("Bad", []))
    await run(worker(app, redis_url))
    assert order == [
        "outer:Ok:default",
        "inner",
        "job",
        "outer-after",
        "outer:Bad:default",
        "inner",
    ]
    assert events == ["JobStarted:Ok", "JobFinished:Ok", "JobStarted:Bad", "JobFailed:Bad"]
    assert r.zcard(K.retry) == 1


async def test_slow_queue_does_not_starve_another(r: redis.Redis, redis_url: str) -> None:
    app = App()
    release = asyncio.Event()
    fast_done: list[int] = []

    @app.job("Slow")
    async def slow() -> None:
        await release.wait()

    @app.job("Fast")
    async def fast(i: int) -> None:
        fast_done.append(i)
        if len(fast_done) == 20:
            release.set()

    for _ in range(10):
        push(r, Job.new("Slow", [], queue="slow"))
    for i in range(20):
        push(r, Job.new("Fast", [i], queue="fast"))
    await run(worker(app, redis_url, {"slow": 2, "fast": 2}))
    assert sorted(fast_done) == list(range(20))


async def test_heartbeat_and_work_hash(r: redis.Redis, redis_url: str) -> None:
    app = App()
    started = asyncio.Event()
    release = asyncio.Event()

    @app.job("Hold")
    async def hold() -> None:
        started.set()
        await release.wait()

    raw = push(r, Job.new("Hold", []))
    w = worker(app, redis_url, {"default": 3, "low": 2}, burst=False)
    task = asyncio.create_task(run(w))
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.sleep(0.4)  # let a beat record the running job
    assert r.sismember(K.processes, w.identity)
    fields = r.hgetall(K.process(w.identity))
    info = msgspec.json.decode(fields[b"info"])
    assert info["identity"] == w.identity and info["concurrency"] == 5
    assert info["queues"] == ["default", "low"]
    assert fields[b"busy"] == b"1" and fields[b"quiet"] == b"false"
    assert fields[b"concurrency"] == b"5"
    assert 0 < r.ttl(K.process(w.identity)) <= 60
    [entry] = [msgspec.json.decode(v) for v in r.hvals(K.work(w.identity))]
    assert entry["queue"] == "default" and entry["payload"].encode() == raw
    assert isinstance(entry["run_at"], int)
    # Web's Quiet button: TSTP in the signals list.
    r.lpush(K.signals(w.identity), "TSTP")
    await asyncio.sleep(0.5)
    assert r.hget(K.process(w.identity), "quiet") == b"true"
    release.set()
    w.stop()
    await task
    assert not r.sismember(K.processes, w.identity)
    assert r.exists(K.work(w.identity)) == 0


async def test_shutdown_requeues_unfinished_jobs(r: redis.Redis, redis_url: str) -> None:
    app = App()
    started = asyncio.Event()

    @app.job("Forever")
    async def forever(i: int) -> None:
        started.set()
        await asyncio.sleep(3600)

    raws = [push(r, Job.new("Forever", [i])) for i in range(3)]
    w = worker(app, redis_url, {"default": 2}, burst=False, shutdown_timeout=0.3)
    task = asyncio.create_task(run(w))
    await asyncio.wait_for(started.wait(), 5)
    w.stop()
    await asyncio.wait_for(task, 5)
    # Two were running, one still queued: all three are back, original order at the pop end.
    assert [r.rpop(K.queue("default")) for _ in range(3)] == raws
    assert r.keys("inprogress:*") == []
    assert r.zcard(K.retry) == 0


async def test_graceful_shutdown_waits_for_running_jobs(r: redis.Redis, redis_url: str) -> None:
    app = App()
    started = threading.Event()
    finished: list[int] = []

    @app.job("Short")
    def short(i: int) -> None:
        started.set()
        time.sleep(0.3)
        finished.append(i)

    push(r, Job.new("Short", [1]))
    w = worker(app, redis_url, burst=False, shutdown_timeout=5)
    task = asyncio.create_task(run(w))
    while not started.is_set():
        await asyncio.sleep(0.01)
    w.stop()
    await asyncio.wait_for(task, 5)
    assert finished == [1]
    assert r.llen(K.queue("default")) == 0
    assert int(r.get(K.stat_processed) or 0) == 1


async def test_redis_restart_mid_run_logs_backs_off_and_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis goes away under a running worker and comes back on the same port (empty, as it
    has no persistence): the worker logs the connection errors, backs off, and then processes
    new jobs: no silent death, no silent idling."""
    app = App()
    done: list[int] = []

    @app.job("Count")
    async def count(i: int) -> None:
        done.append(i)

    server = EmbeddedRedis().start()
    client = redis.Redis.from_url(server.url)
    w = worker(app, server.url, burst=False, beat_interval=0.1, poll_interval=0.2)
    task = asyncio.create_task(w.run())
    try:
        for i in range(5):
            push(client, Job.new("Count", [i]))
        await _until(lambda: len(done) == 5)
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            await asyncio.to_thread(server.stop)
            await asyncio.sleep(1.0)
            assert not task.done(), "the worker died with Redis"
            failures = [r for r in caplog.records if r.levelno >= logging.WARNING]
            assert any("fetch failed" in r.getMessage() for r in failures), failures
            await asyncio.to_thread(server.start)
            for i in range(5, 15):
                push(client, Job.new("Count", [i]))
            await _until(lambda: len(done) == 15, timeout=15)
        assert not task.done()
        # Backing off, not spinning: a handful of warnings per second, not thousands.
        assert len(failures) < 100
        # Nothing left in progress; counts not flushed before the outage were kept and sent
        # after it (the restarted Redis is empty, so at least the 10 new jobs are counted).
        await _until(
            lambda: not client.keys("inprogress:*") and int(client.get(K.stat_processed) or 0) >= 10
        )
        assert client.sismember(K.processes, w.identity)
    finally:
        w.stop()
        await asyncio.wait_for(task, 10)
        await w.aclose()
        client.close()
        server.close()
    assert sorted(done) == list(range(15))


async def _until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout}s")
        await asyncio.sleep(0.05)
