"""Job timeouts in a real worker on a real Redis: timed-out jobs fail by the retry rules, a
sync job's thread keeps its slot, a shutdown is not a timeout, and the README example runs."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.replies import zmembers
from verk_compat import JobTimeout
from verk_compat.codec.job import Job, now
from verk_compat.codec.verk import VerkJob
from verk_compat.keys import Keys
from verk_compat.worker.app import App
from verk_compat.worker.launcher import Worker
from verk_compat.worker.middleware import JobContext, Next

K = Keys()


def push(r: redis.Redis, job: Job) -> None:
    r.lpush(K.queue(job.queue or "default"), job.replace(enqueued_at=now()).encode())


async def run(app: App, redis_url: str, concurrency: int = 5, **kw: Any) -> None:
    options: dict[str, Any] = {"burst": True, "block_timeout": 0.2, "beat_interval": 0.2}
    w = Worker(app, {"default": concurrency}, redis_url=redis_url, **{**options, **kw})
    try:
        await asyncio.wait_for(w.run(), 30)
    finally:
        await w.aclose()


def failures(r: redis.Redis, key: str) -> list[Job]:
    return [Job.decode(m) for m in zmembers(r, key)]


async def test_async_timeout_follows_the_retry_rules_to_dead(
    r: redis.Redis, redis_url: str
) -> None:
    app = App()
    ran: list[int] = []

    @app.job("Slow", timeout=0.2)
    async def slow(n: int) -> None:
        ran.append(n)
        await asyncio.sleep(10)
        ran.append(-n)  # never reached: the job was cancelled

    push(r, Job.new("Slow", [1], retry=2, jid="a" * 24))
    counts = []
    for _ in range(3):  # retry: 2 means two retries, then dead
        await run(app, redis_url)
        [retried] = failures(r, K.retry) or failures(r, K.dead)
        assert retried.error_class == "verk_compat.JobTimeout"
        assert retried.error_message == "job ran longer than its 0.2s timeout"
        counts.append(retried.retry_count)
        if failures(r, K.retry):
            r.delete(K.retry)  # what the scheduler does when the retry is due
            r.lpush(K.queue("default"), retried.encode())
    assert counts == [0, 1, 2]
    assert [j.jid for j in failures(r, K.dead)] == ["a" * 24]
    assert ran == [1, 1, 1]
    assert int(r.get(K.stat_failed) or 0) == 3
    assert r.keys("inprogress:*") == []


async def test_jobs_within_their_timeout_succeed(r: redis.Redis, redis_url: str) -> None:
    app = App()
    done: list[str] = []

    @app.job("QuickAsync")
    async def quick_async() -> None:
        await asyncio.sleep(0.01)
        done.append("async")

    @app.job("QuickSync")
    def quick_sync() -> None:
        time.sleep(0.01)
        done.append("sync")

    push(r, Job.new("QuickAsync", []))
    push(r, Job.new("QuickSync", []))
    await run(app, redis_url, job_timeout=10)
    assert sorted(done) == ["async", "sync"]
    assert r.zcard(K.retry) == 0 and r.zcard(K.dead) == 0
    assert int(r.get(K.stat_processed) or 0) == 2
    assert r.keys("inprogress:*") == []


async def test_the_jobs_own_timeout_overrides_the_workers(r: redis.Redis, redis_url: str) -> None:
    app = App()
    done: list[str] = []

    async def nap(name: str) -> None:
        await asyncio.sleep(0.6)
        done.append(name)

    app.register("Default", nap)  # the worker's 0.2 s applies
    app.register("Longer", nap, timeout=20)
    app.register("Unlimited", nap, timeout=0)
    for name in ("Default", "Longer", "Unlimited"):
        push(r, Job.new(name, [name]))
    await run(app, redis_url, job_timeout=0.2)
    assert sorted(done) == ["Longer", "Unlimited"]
    [timed_out] = failures(r, K.retry)
    assert (timed_out.class_name, timed_out.error_class) == ("Default", "verk_compat.JobTimeout")

    r.delete(K.retry)
    app.register("Short", nap, timeout=0.2)  # and a job's timeout applies with no worker default
    push(r, Job.new("Short", ["Short"]))
    await run(app, redis_url)
    [timed_out] = failures(r, K.retry)
    assert (timed_out.class_name, timed_out.error_class) == ("Short", "verk_compat.JobTimeout")


async def wait_for(predicate: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("later", ["returns", "raises"])
async def test_a_timed_out_sync_job_keeps_its_slot_until_its_thread_returns(
    r: redis.Redis, redis_url: str, later: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = App()
    release = threading.Event()
    events: list[str] = []

    @app.job("Stuck", timeout=0.2)
    def stuck() -> None:
        events.append("stuck started")
        release.wait(20)
        events.append("stuck returned")
        if later == "raises":
            raise ValueError("late failure")

    @app.job("Next")
    def next_job() -> None:
        events.append("next ran")

    push(r, Job.new("Stuck", [], jid="s" * 24))
    push(r, Job.new("Next", []))
    worker = asyncio.create_task(run(app, redis_url, concurrency=1))
    try:
        await wait_for(lambda: r.zcard(K.retry) == 1)
        [failed] = failures(r, K.retry)
        assert (failed.jid, failed.error_class) == ("s" * 24, "verk_compat.JobTimeout")
        await asyncio.sleep(0.5)  # the thread still runs: concurrency 1 starts nothing else
        assert events == ["stuck started"]
        assert r.llen(K.queue("default")) + sum(r.llen(k) for k in r.keys("inprogress:*")) == 1
        release.set()
        await asyncio.wait_for(worker, 30)
    finally:
        release.set()
        if not worker.done():
            worker.cancel()
    assert events == ["stuck started", "stuck returned", "next ran"]
    # Failed once, when it timed out; what the thread did later changed nothing.
    [failed] = failures(r, K.retry)
    assert (failed.error_class, failed.retry_count) == ("verk_compat.JobTimeout", 0)
    assert r.zcard(K.dead) == 0
    assert int(r.get(K.stat_failed) or 0) == 1
    assert int(r.get(K.stat_processed) or 0) == 2
    assert r.keys("inprogress:*") == [] and r.llen(K.queue("default")) == 0
    assert "its thread cannot be stopped" in caplog.text
    assert ("raised ValueError: late failure" if later == "raises" else "returned") in caplog.text


async def test_a_middleware_swallowing_the_timeout_still_waits_for_the_thread(
    r: redis.Redis, redis_url: str
) -> None:
    app = App()
    release = threading.Event()
    events: list[str] = []

    async def forgiving(ctx: JobContext, call_next: Next) -> None:
        try:
            await call_next()
        except JobTimeout:
            events.append("swallowed")

    app.middleware.append(forgiving)

    @app.job("Stuck", timeout=0.2)
    def stuck() -> None:
        release.wait(20)
        events.append("stuck returned")

    @app.job("Next")
    def next_job() -> None:
        events.append("next ran")

    push(r, Job.new("Stuck", []))
    push(r, Job.new("Next", []))
    worker = asyncio.create_task(run(app, redis_url, concurrency=1))
    try:
        await wait_for(lambda: events == ["swallowed"])
        await asyncio.sleep(0.5)
        assert events == ["swallowed"]  # the slot is still taken by the running thread
        release.set()
        await asyncio.wait_for(worker, 30)
    finally:
        release.set()
        if not worker.done():
            worker.cancel()
    assert events == ["swallowed", "stuck returned", "next ran"]
    assert r.zcard(K.retry) == 0 and r.keys("inprogress:*") == []


def readme_example() -> str:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text[text.index("### Job timeouts") :]
    return section[section.index("```python\n") + 10 : section.index("```\n")]


async def test_the_readme_example(r: redis.Redis, redis_url: str) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(readme_example(), "README.md", "exec"), namespace)
    app = namespace["app"]
    push(r, Job.new("Report", ["2026-11-28"]))
    push(r, Job.new("Resize", ["a.png"]))
    await run(app, redis_url, job_timeout=1)
    timed_out = {j.class_name: j.error_message for j in failures(r, K.retry)}
    assert timed_out == {
        "Report": "job ran longer than its 2s timeout",
        "Resize": "job ran longer than its 1s timeout",
    }


@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_a_shutdown_is_not_a_timeout_the_job_goes_back_to_its_queue(
    r: redis.Redis, redis_url: str, kind: str
) -> None:
    app = App()
    started = threading.Event()
    release = threading.Event()

    async def long_async() -> None:
        started.set()
        await asyncio.sleep(60)

    def long_sync() -> None:
        started.set()
        release.wait(20)

    app.register("Long", long_async if kind == "async" else long_sync, timeout=30)
    push(r, Job.new("Long", [], jid="l" * 24))
    w = Worker(app, {"default": 1}, redis_url=redis_url, block_timeout=0.2, shutdown_timeout=0.2)
    task = asyncio.create_task(w.run())
    try:
        await wait_for(started.is_set)
        w.stop()
        await asyncio.wait_for(task, 20)
    finally:
        release.set()
        await w.aclose()
    assert [Job.decode(m).jid for m in r.lrange(K.queue("default"), 0, -1)] == ["l" * 24]
    assert r.zcard(K.retry) == 0 and r.zcard(K.dead) == 0
    assert r.get(K.stat_failed) is None


async def test_a_shutdown_while_a_timed_out_thread_runs(r: redis.Redis, redis_url: str) -> None:
    app = App()
    release = threading.Event()

    @app.job("Stuck", timeout=0.1)
    def stuck() -> None:
        release.wait(20)

    @app.job("Next")
    def next_job() -> None:
        raise AssertionError("must not start while Stuck's thread holds the only slot")

    push(r, Job.new("Stuck", []))
    push(r, Job.new("Next", [], jid="n" * 24))
    w = Worker(app, {"default": 1}, redis_url=redis_url, block_timeout=0.2, shutdown_timeout=0.2)
    task = asyncio.create_task(w.run())
    try:
        await wait_for(lambda: r.zcard(K.retry) == 1)
        w.stop()
        await asyncio.wait_for(task, 20)  # the stuck thread does not hold the shutdown
    finally:
        release.set()
        await w.aclose()
    [failed] = failures(r, K.retry)
    assert failed.error_class == "verk_compat.JobTimeout"
    assert [Job.decode(m).jid for m in r.lrange(K.queue("default"), 0, -1)] == ["n" * 24]
    assert r.keys("inprogress:*") == []
    assert int(r.get(K.stat_failed) or 0) == 1


async def test_a_verk_job_times_out_into_verks_format(r: redis.Redis, redis_url: str) -> None:
    app = App()

    @app.job("VerkSlow", timeout=0.1)
    async def verk_slow(n: int) -> None:
        await asyncio.sleep(10)

    raw = b'{"queue":"default","class":"VerkSlow","args":"[1]","jid":"v1","retry_count":0,'
    raw += b'"max_retry_count":3,"enqueued_at":1700000000}'
    r.lpush(K.queue("default"), raw)
    await run(app, redis_url)
    [member] = zmembers(r, K.retry)
    failed = VerkJob.decode(member)
    assert (failed.jid, failed.args, failed.retry_count) == ("v1", [1], 1)  # Verk's 1-based count
    assert "job ran longer than its 0.1s timeout" in (failed.error_message or "")
