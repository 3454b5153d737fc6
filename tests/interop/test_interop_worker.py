"""The Python worker against real Ruby Sidekiq 6.4.1: Ruby pushes, Ruby reads retries/dead,
Ruby retries, and both consume one queue together."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.replies import zscored
from tests.support.ruby import SidekiqProcess, ruby_eval, ruby_json
from verk_compat.codec.job import Job, now
from verk_compat.keys import Keys
from verk_compat.worker.app import App
from verk_compat.worker.launcher import Worker

pytestmark = pytest.mark.interop

K = Keys()
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sidekiq-6.4.1"

RUBY_CLASSES = """
class HardWorker; include Sidekiq::Worker; end
class FailWorker; include Sidekiq::Worker; sidekiq_options backtrace: true; end
"""


def recording_app(seen: list[tuple[str, list[Any]]]) -> App:
    app = App()

    @app.job("HardWorker")
    async def hard(*args: Any) -> None:
        seen.append(("HardWorker", list(args)))

    @app.job("ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper")
    def wrapper(data: dict[str, Any]) -> None:
        seen.append((data["job_class"], data["arguments"]))

    return app


async def run_until(worker: Worker, done: Any, timeout: float = 20) -> None:
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(timeout):
            while not done():
                await asyncio.sleep(0.05)
    finally:
        worker.stop()
        await task
        await worker.aclose()


def wait_for_processes(r: redis.Redis, count: int, timeout: float = 30) -> None:
    """Wait until ``count`` processes (Ruby or Python) heartbeat in ``processes``."""
    deadline = time.monotonic() + timeout
    while r.scard(K.processes) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count} processes did not show up in {timeout}s")
        time.sleep(0.05)


def fast_worker(app: App, redis_url: str, queues: dict[str, int], **kw: Any) -> Worker:
    options: dict[str, Any] = {"poll_interval": 0.2, "block_timeout": 0.2, "beat_interval": 0.5}
    return Worker(app, queues, redis_url=redis_url, **{**options, **kw})


async def test_ruby_pushed_jobs_run_with_the_same_arguments(r: redis.Redis, redis_url: str) -> None:
    ruby_eval(
        RUBY_CLASSES
        + """
HardWorker.perform_async(1, "two", 3.0, {"k" => [nil, true]}, "ünï")
HardWorker.perform_in(1, "later")
HardWorker.set(queue: "critical").perform_async("critical")
Sidekiq::Client.push_bulk("class" => HardWorker, "args" => [["b", 1], ["b", 2]])
""",
        redis_url,
    )
    aj = json.loads((FIXTURES / "activejob.json").read_text())["raw"]
    r.lpush(K.queue("default"), aj)
    seen: list[tuple[str, list[Any]]] = []
    worker = fast_worker(recording_app(seen), redis_url, {"default": 5, "critical": 2})
    await run_until(worker, lambda: len(seen) == 6)
    assert sorted(map(json.dumps, seen)) == sorted(
        json.dumps(x)
        for x in [
            ("HardWorker", [1, "two", 3.0, {"k": [None, True]}, "ünï"]),
            ("HardWorker", ["later"]),
            ("HardWorker", ["critical"]),
            ("HardWorker", ["b", 1]),
            ("HardWorker", ["b", 2]),
            ("InteropActiveJob", json.loads(aj)["args"][0]["arguments"]),
        ]
    )


async def test_python_failure_is_readable_and_retryable_from_ruby(
    r: redis.Redis, redis_url: str
) -> None:
    fail = {"on": True}
    ran: list[list[Any]] = []
    app = App()

    @app.job("FailWorker")
    def fail_worker(*args: Any) -> None:
        if fail["on"]:
            raise ValueError("python says no")
        ran.append(list(args))

    ruby_eval(RUBY_CLASSES + 'FailWorker.perform_async("x", 2)', redis_url)
    await run_until(fast_worker(app, redis_url, {"default": 2}), lambda: r.zcard(K.retry) == 1)
    entry = ruby_json(
        """
e = Sidekiq::RetrySet.new.first
puts JSON.generate([e.klass, e.args, e["error_class"], e["error_message"], e["retry_count"],
                    e.error_backtrace, e.at.to_f > Time.now.to_f])
""",
        redis_url,
    )
    klass, args, error_class, message, count, backtrace, future = entry
    assert (klass, args, error_class, message, count) == (
        "FailWorker",
        ["x", 2],
        "ValueError",
        "python says no",
        0,
    )
    assert future and backtrace and "fail_worker" in backtrace[0]
    ruby_eval("Sidekiq::RetrySet.new.each(&:retry)", redis_url)
    assert r.zcard(K.retry) == 0 and r.llen(K.queue("default")) == 1
    fail["on"] = False
    await run_until(fast_worker(app, redis_url, {"default": 2}), lambda: ran == [["x", 2]])


async def test_exhausted_job_is_in_ruby_dead_set(r: redis.Redis, redis_url: str) -> None:
    app = App()

    @app.job("FailWorker")
    def fail_worker(*args: Any) -> None:
        raise RuntimeError("dead now")

    ruby_eval(
        RUBY_CLASSES + 'FailWorker.set(retry: 1).perform_async("d")',
        redis_url,
    )
    # First failure: retry_count 0 -> retry set; make it due at once, second failure: dead.
    worker = fast_worker(app, redis_url, {"default": 2})
    await run_until(worker, lambda: r.zcard(K.retry) == 1)
    [(member, _)] = zscored(r, K.retry)
    r.zadd(K.retry, {member: now() - 1})
    await run_until(fast_worker(app, redis_url, {"default": 2}), lambda: r.zcard(K.dead) == 1)
    dead = ruby_json(
        """
e = Sidekiq::DeadSet.new.first
puts JSON.generate([Sidekiq::DeadSet.new.size, e.klass, e.args, e["retry_count"], e["error_class"]])
""",
        redis_url,
    )
    assert dead == [1, "FailWorker", ["d"], 1, "RuntimeError"]


@pytest.mark.slow
async def test_python_and_ruby_share_a_queue_each_job_once(
    r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    total = 600
    python_ran: list[int] = []
    app = App()

    @app.job("InteropWorker")
    async def interop(i: int) -> None:
        python_ran.append(i)
        await asyncio.sleep(0.002)

    jobs = [Job.new("InteropWorker", [i]).replace(enqueued_at=now()).encode() for i in range(total)]
    with SidekiqProcess(redis_url, concurrency=5) as ruby:
        # Both consumers wait on the empty queue before the jobs arrive, so each gets a share
        # (pushing first let a quick Ruby drain everything before Python had started).
        await asyncio.to_thread(wait_for_processes, r, 1)
        worker = fast_worker(app, redis_url, {"default": 5})
        task = asyncio.create_task(worker.run())
        try:
            await asyncio.to_thread(wait_for_processes, r, 2)
            r.lpush(K.queue("default"), *jobs)
            async with asyncio.timeout(60):
                while r.llen(K.queue("default")) or r.keys("inprogress:*"):
                    await asyncio.sleep(0.05)
        finally:
            worker.stop()
            await task
            await worker.aclose()
        ruby_lines = await asyncio.to_thread(ruby.wait_for, total - len(python_ran), 30)
    ruby_ran = [line["args"][0] for line in ruby_lines]
    assert python_ran and ruby_ran
    assert sorted(python_ran + ruby_ran) == list(range(total))


async def test_ruby_process_set_sees_the_python_worker(r: redis.Redis, redis_url: str) -> None:
    worker = fast_worker(App(), redis_url, {"default": 3, "critical": 2})
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0.3)
        seen = await asyncio.to_thread(
            ruby_json,
            """
ps = Sidekiq::ProcessSet.new.to_a
rows = ps.map { |p| [p.identity, p["concurrency"], p["queues"], p["busy"], p.stopping?] }
puts JSON.generate(rows)
""",
            redis_url,
        )
    finally:
        worker.stop()
        await task
        await worker.aclose()
    assert seen == [[worker.identity, 5, ["default", "critical"], 0, False]]
