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

from tests.support.garbage import (
    HUGE_FLOAT_ARGS,
    HUGE_INT_ARGS,
    deep_args,
    deep_extra,
    deep_object,
)
from tests.support.replies import zmembers, zscored
from verk_compat.codec.job import Job, now
from verk_compat.devtools.redis_server import EmbeddedRedis
from verk_compat.keys import Keys
from verk_compat.worker.app import App
from verk_compat.worker.events import JobFailed, JobFinished, JobStarted
from verk_compat.worker.launcher import Worker
from verk_compat.worker.middleware import JobContext

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
    [(member, score)] = zscored(r, K.retry)
    job = Job.decode(member)
    assert job.args == [7]
    assert (job.error_class, job.error_message, job.retry_count) == ("ValueError", "bad 7", 0)
    assert job.error_backtrace
    assert before + 15 <= score <= time.time() + 24
    assert int(r.get(K.stat_processed) or 0) == 1
    assert int(r.get(K.stat_failed) or 0) == 1
    assert r.keys("inprogress:*") == []


async def test_registered_options_apply_to_payloads_pushed_by_name(
    r: redis.Redis, redis_url: str
) -> None:
    app = App()

    @app.job("Capped", retry=2, dead=False)
    def capped() -> None:
        raise RuntimeError("x")

    @app.job("Rerouted", retry=3, retry_queue="low", backtrace=1)
    def rerouted() -> None:
        raise RuntimeError("y")

    # As Ruby's Sidekiq::Client.push or a plain client.enqueue write them: "retry": true.
    push(r, Job.new("Capped", [], jid="c" * 24).replace(retry_count=1, failed_at=now()))
    push(r, Job.new("Rerouted", [], jid="d" * 24))
    await run(worker(app, redis_url))
    [retried] = [Job.decode(m) for m in zmembers(r, K.retry)]  # Capped: dropped, not retried
    assert retried.jid == "d" * 24
    assert (retried.retry, retried.queue, retried.retry_count) == (3, "low", 0)
    assert retried.error_backtrace
    assert zmembers(r, K.dead) == []


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
    [retried] = [Job.decode(m) for m in zmembers(r, K.retry)]
    assert retried.class_name == "os.system"
    assert retried.error_class == "verk_compat.UnknownJob"
    assert "os.system" in (retried.error_message or "")
    [dead] = [Job.decode(m) for m in zmembers(r, K.dead)]
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


async def test_shutdown_during_fetch_ack_keeps_its_acks(r: redis.Redis, redis_url: str) -> None:
    """Review finding: the fetch loop takes the finished jobs' acks out of ``_done`` for
    ``fetch_ack``; a shutdown cancelling the loop while that round trip is in flight dropped
    them, so the final requeue pushed a job that had finished back to its queue (run twice
    after a graceful shutdown). The acks must go back to ``_done`` and be sent by ``drain``."""
    app = App()
    ran: list[int] = []

    @app.job("Once")
    async def once(i: int) -> None:
        ran.append(i)

    push(r, Job.new("Once", [1]))
    w = worker(app, redis_url, {"default": 1}, burst=False, shutdown_timeout=1)
    manager = w.managers["default"]
    real = manager.fetcher.fetch_ack
    entered = asyncio.Event()

    async def slow_fetch_ack(limit: int, acks: list[bytes]) -> list[bytes]:
        if acks:
            # The reply of a fetch carrying acks is slow: shutdown cancels the loop here.
            entered.set()
            await asyncio.sleep(3600)
        return await real(limit, acks)

    manager.fetcher.fetch_ack = slow_fetch_ack  # type: ignore[method-assign]
    task = asyncio.create_task(run(w))
    await asyncio.wait_for(entered.wait(), 5)
    w.stop()
    await asyncio.wait_for(task, 10)
    assert ran == [1]
    assert r.llen(K.queue("default")) == 0, "a finished job was pushed back to its queue"
    assert r.keys("inprogress:*") == []


async def test_blocked_event_loop_keeps_the_process_alive(r: redis.Redis, redis_url: str) -> None:
    """Review finding: the heartbeat runs on the event loop. An ``async def`` job that blocks
    the loop (CPU work, a sync call) for longer than the heartbeat TTL let the process hash
    expire although the process was alive and running the job: another process's orphan
    recovery then pushed the job back to its queue and it ran twice. As Sidekiq's heartbeat
    thread does, a keep-alive thread now extends the TTL while the loop is stalled."""
    app = App()
    ran: list[int] = []
    blocked = threading.Event()

    @app.job("Blocking")
    async def blocking(i: int) -> None:
        ran.append(i)
        if len(ran) == 1:
            blocked.set()
            time.sleep(3.0)  # blocks the loop: no beat for 3 s, TTL is 1 s

    push(r, Job.new("Blocking", [1]))
    w = worker(app, redis_url, {"default": 1}, burst=False, heartbeat_ttl=1, beat_interval=0.2)
    stolen: list[int] = []

    def other_process() -> None:
        # Another live process running orphan recovery while this loop is blocked.
        from verk_compat.worker.orphans import recover_orphans

        async def steal() -> None:
            blocked.wait(10)
            client = redis.asyncio.Redis.from_url(redis_url)
            try:
                for _ in range(25):
                    stolen.append(await recover_orphans(client, K, "other:1:000000000000"))
                    await asyncio.sleep(0.1)
            finally:
                await client.aclose()

        asyncio.run(steal())

    thief = threading.Thread(target=other_process)
    thief.start()
    task = asyncio.create_task(run(w))
    await asyncio.to_thread(thief.join)
    await asyncio.sleep(0.5)
    w.stop()
    await asyncio.wait_for(task, 10)
    assert sum(stolen) == 0, "a live process's in-progress job was requeued"
    assert ran == [1], "the job ran twice"


async def test_failure_that_cannot_be_re_encoded_goes_to_dead_untouched(
    r: redis.Redis, redis_url: str
) -> None:
    """Review finding: a job that fails and whose retry entry cannot be written under the
    profile (``created_at`` 1e308 s has no integer-ms form for ``sidekiq8``) raised out of the
    processor: the job sat in progress, "crashed the worker", until shutdown pushed it back to
    run (and crash) again. It goes to ``dead`` as fetched now, like an undecodable payload."""
    app = App()

    @app.job("Boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    raw = (
        b'{"class":"Boom","args":[],"jid":"0123456789abcdef01234567","retry":true,'
        b'"created_at":1e308}'
    )
    r.lpush(K.queue("default"), raw)
    w = worker(app, redis_url, profile="sidekiq8")
    await run(w)
    assert r.zrange(K.dead, 0, -1) == [raw]
    assert r.zcard(K.retry) == 0
    assert r.keys("inprogress:*") == []


async def test_stop_starts_no_fetched_job_and_gives_them_back(
    r: redis.Redis, redis_url: str
) -> None:
    """Sidekiq stops starting work as soon as a shutdown begins: only running jobs get the
    grace period. Jobs fetched into the manager's ready buffer but not started went on to
    start during the grace period; they must go back to the pop end of their queue at once,
    in order, and never run, while the running job finishes and is acknowledged."""
    app = App()
    ran: list[str] = []
    finished: list[str] = []
    w: Worker

    @app.job("Step")
    async def step(name: str) -> None:
        ran.append(name)
        if name == "a":
            # TERM arrives while b and c are fetched but not started yet.
            w.stop()
            await asyncio.sleep(1.0)
        finished.append(name)

    raws = [push(r, Job.new("Step", [n])) for n in "abcde"]
    w = worker(app, redis_url, {"default": 3}, burst=False, shutdown_timeout=5)
    task = asyncio.create_task(run(w))
    # b and c are back while a still runs its grace period.
    await _until(lambda: r.llen(K.queue("default")) == 4, timeout=5)
    assert finished == []
    await asyncio.wait_for(task, 10)
    assert ran == ["a"] and finished == ["a"]
    assert [r.rpop(K.queue("default")) for _ in range(5)] == [*raws[1:], None]
    assert r.keys("inprogress:*") == []
    assert int(r.get(K.stat_processed) or 0) == 1


async def test_pause_starts_no_fetched_job_and_gives_them_back(
    r: redis.Redis, redis_url: str
) -> None:
    """As above for pause_queue: fetched-but-unstarted jobs go back in order, the running job
    finishes and is acknowledged, and after resume every job runs once."""
    app = App()
    ran: list[str] = []
    w: Worker

    @app.job("Step")
    async def step(name: str) -> None:
        ran.append(name)
        if name == "a" and len(ran) == 1:
            w.pause_queue("default")
            await asyncio.sleep(1.0)

    raws = [push(r, Job.new("Step", [n])) for n in "abcde"]
    w = worker(app, redis_url, {"default": 3}, burst=False, shutdown_timeout=5)
    task = asyncio.create_task(run(w))
    try:
        await _until(lambda: r.llen(K.queue("default")) == 4, timeout=5)
        assert ran == ["a"]
        assert r.lrange(K.queue("default"), 0, -1) == raws[:0:-1]
        await _until(lambda: int(r.get(K.stat_processed) or 0) == 1, timeout=5)
        assert r.lrange(f"inprogress:default:{w.identity}", 0, -1) == []
        w.resume_queue("default")
        await _until(lambda: len(ran) == 5, timeout=5)
        assert ran == list("abcde")
    finally:
        w.stop()
        await asyncio.wait_for(task, 10)
    assert r.llen(K.queue("default")) == 0
    assert r.keys("inprogress:*") == []


async def test_deep_and_unreadable_payloads_go_to_dead_and_the_worker_goes_on(
    r: redis.Redis, redis_url: str
) -> None:
    # Issue 16: a payload nested ~1,000 levels crashed the worker (RecursionError) and went back
    # to its queue at each shutdown; args such as 1e400 failed the job instead of burying it.
    ran: list[int] = []
    app = App()
    app.register("A", lambda i: ran.append(i))
    bad = [deep_args(), deep_extra(), deep_object(), HUGE_FLOAT_ARGS, HUGE_INT_ARGS]
    for i, raw in enumerate(bad):
        push(r, Job.new("A", [i]))
        r.lpush(K.queue("default"), raw)
    await run(worker(app, redis_url))
    assert sorted(ran) == list(range(len(bad)))
    assert sorted(r.zrange(K.dead, 0, -1)) == sorted(bad)
    assert r.llen(K.queue("default")) == 0 and r.zcard(K.retry) == 0
    assert r.keys("inprogress:*") == []
