"""A mixed fleet: a real Ruby Sidekiq 6.4.1 process and a Python worker on one queue, with
Ruby-only and Python-only classes. Each side hands the other's jobs back (the Python worker
with its default ``--unknown-jobs requeue``), so every job runs exactly once, none in retry."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis

from tests.support.ruby import RUBY_DIR, SidekiqProcess
from verk_compat.codec.job import Job, now
from verk_compat.keys import Keys
from verk_compat.worker.app import App
from verk_compat.worker.launcher import Worker

pytestmark = pytest.mark.interop

K = Keys()
MIXED = RUBY_DIR / "mixed_fleet.rb"


def wait_for_processes(r: redis.Redis, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while r.scard(K.processes) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count} processes did not show up in {timeout}s")
        time.sleep(0.05)


async def test_mixed_fleet_runs_every_job_exactly_once(r: redis.Redis, redis_url: str) -> None:
    python_ran: list[int] = []
    app = App()

    @app.job("PyOnlyJob")
    def py_only(n: int) -> None:
        python_ran.append(n)

    total = 12
    jobs = [
        Job.new("InteropWorker" if n % 2 else "PyOnlyJob", [n]).replace(enqueued_at=now()).encode()
        for n in range(total)
    ]
    with SidekiqProcess(redis_url, concurrency=2, require=MIXED) as ruby:
        await asyncio.to_thread(wait_for_processes, r, 1)
        options: dict[str, Any] = {"poll_interval": 0.2, "block_timeout": 0.2}
        worker = Worker(app, {"default": 3}, redis_url=redis_url, beat_interval=0.5, **options)
        task = asyncio.create_task(worker.run())
        try:
            await asyncio.to_thread(wait_for_processes, r, 2)
            r.lpush(K.queue("default"), *jobs)
            async with asyncio.timeout(90):
                while len(python_ran) < total // 2 or len(ruby.jobs()) < total // 2:
                    await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # a duplicate would show up meanwhile
        finally:
            worker.stop()
            await task
            await worker.aclose()
        ruby_ran = [line["args"][0] for line in ruby.jobs()]
    assert sorted(python_ran) == list(range(0, total, 2))
    assert sorted(ruby_ran) == list(range(1, total, 2))
    assert r.zcard(K.retry) == 0 and r.zcard(K.dead) == 0
    assert r.llen(K.queue("default")) == 0
    assert r.keys("inprogress:*") == []
    assert int(r.get(K.stat_failed) or 0) == 0  # neither side failed the other's jobs
