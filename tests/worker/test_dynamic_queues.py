"""Verk's dynamic queues: add, remove, pause and resume queues in a running worker."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import msgspec
import pytest
import redis

from verk_compat.codec.job import Job, now
from verk_compat.keys import Keys
from verk_compat.worker.app import App
from verk_compat.worker.events import QueuePaused, QueueRunning
from verk_compat.worker.launcher import Worker

K = Keys()


def push(r: redis.Redis, job: Job) -> bytes:
    raw = job.replace(enqueued_at=now()).encode()
    r.lpush(K.queue(job.queue or "default"), raw)
    return raw


async def wait_for(predicate: Any, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


def info(r: redis.Redis, w: Worker) -> dict[str, Any]:
    raw = r.hget(K.process(w.identity), "info")
    return msgspec.json.decode(raw) if raw else {}


def make_worker(app: App, redis_url: str, queues: dict[str, int]) -> Worker:
    return Worker(
        app, queues, redis_url=redis_url, block_timeout=0.5, beat_interval=0.1, poll_interval=1
    )


async def test_add_pause_resume_remove_while_running(r: redis.Redis, redis_url: str) -> None:
    app = App()
    ran: list[tuple[str, int]] = []
    events: list[Any] = []
    gate = asyncio.Event()

    @app.job("Rec")
    async def rec(q: str, i: int) -> None:
        ran.append((q, i))
        if i < 0:
            await gate.wait()

    app.events.subscribe(
        lambda e: events.append(e) if isinstance(e, QueuePaused | QueueRunning) else None
    )
    w = make_worker(app, redis_url, {"default": 2})
    task = asyncio.create_task(w.run())
    try:
        await wait_for(lambda: info(r, w).get("queues") == ["default"])
        # add_queue: starts fetching at once, shows in info, its jobs run.
        w.add_queue("new", 3)
        push(r, Job.new("Rec", ["new", 1], queue="new"))
        await wait_for(lambda: ("new", 1) in ran)
        await wait_for(lambda: info(r, w).get("queues") == ["default", "new"])
        assert info(r, w)["concurrency"] == 5
        assert r.hget(K.process(w.identity), "concurrency") == b"5"
        assert info(r, w)["capsules"]["new"]["concurrency"] == 3
        with pytest.raises(ValueError, match="already served"):
            w.add_queue("new", 1)
        # pause while a job of the queue runs: it finishes, nothing more is fetched, even a job
        # pushed while the fetch loop sits in its blocking wait.
        push(r, Job.new("Rec", ["new", -1], queue="new"))
        await wait_for(lambda: ("new", -1) in ran)
        w.pause_queue("new")
        w.pause_queue("new")  # idempotent
        push(r, Job.new("Rec", ["new", 2], queue="new"))
        await wait_for(lambda: info(r, w).get("paused") == ["new"])
        assert info(r, w)["queues"] == ["default"] and info(r, w)["concurrency"] == 2
        gate.set()
        await wait_for(lambda: w.busy == 0)
        await asyncio.sleep(0.8)  # longer than the blocking wait
        assert ("new", 2) not in ran and r.llen(K.queue("new")) == 1
        # Other queues keep running.
        push(r, Job.new("Rec", ["default", 1]))
        await wait_for(lambda: ("default", 1) in ran)
        # resume: the waiting job runs.
        w.resume_queue("new")
        await wait_for(lambda: ("new", 2) in ran)
        await wait_for(lambda: "paused" not in info(r, w) and len(info(r, w)["queues"]) == 2)
        # remove: the queue is no longer served, its jobs stay in Redis.
        await w.remove_queue("new")
        push(r, Job.new("Rec", ["new", 3], queue="new"))
        await wait_for(lambda: info(r, w).get("queues") == ["default"])
        await asyncio.sleep(0.3)
        assert ("new", 3) not in ran and r.llen(K.queue("new")) == 1
        assert r.keys("inprogress:new:*") == []
        with pytest.raises(KeyError):
            w.pause_queue("new")
        # And it can come back.
        w.add_queue("new", 1)
        await wait_for(lambda: ("new", 3) in ran)
    finally:
        w.stop()
        gate.set()
        await asyncio.wait_for(task, 10)
        await w.aclose()
    kinds = [(type(e).__name__, e.queue) for e in events]
    assert kinds == [
        ("QueueRunning", "new"),
        ("QueuePaused", "new"),
        ("QueueRunning", "new"),
        ("QueueRunning", "new"),
    ]


async def test_remove_queue_pushes_back_jobs_past_the_timeout(
    r: redis.Redis, redis_url: str
) -> None:
    app = App()
    started = asyncio.Event()

    @app.job("Forever")
    async def forever(i: int) -> None:
        started.set()
        await asyncio.sleep(3600)

    raws = [push(r, Job.new("Forever", [i], queue="slow")) for i in range(2)]
    w = make_worker(app, redis_url, {"default": 1, "slow": 1})
    task = asyncio.create_task(w.run())
    try:
        await asyncio.wait_for(started.wait(), 5)
        await w.remove_queue("slow", timeout=0.2)
        assert "slow" not in w.managers and w.busy == 0
        # The cancelled job is back at the pop end, before the one never fetched.
        assert [r.rpop(K.queue("slow")) for _ in range(2)] == raws
        assert r.keys("inprogress:slow:*") == []
    finally:
        w.stop()
        await asyncio.wait_for(task, 10)
        await w.aclose()


async def test_added_queue_gets_its_own_threads(r: redis.Redis, redis_url: str) -> None:
    app = App()
    both = threading.Barrier(3, timeout=5)
    done: list[int] = []

    @app.job("Sync")
    def sync(i: int) -> None:
        both.wait()  # three sync jobs at once: needs the added queue's threads
        done.append(i)

    w = make_worker(app, redis_url, {"default": 1})
    task = asyncio.create_task(w.run())
    try:
        push(r, Job.new("Sync", [0]))
        await asyncio.sleep(0.3)
        w.add_queue("more", 2)
        for i in (1, 2):
            push(r, Job.new("Sync", [i], queue="more"))
        deadline = time.monotonic() + 8
        while len(done) < 3:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert sorted(done) == [0, 1, 2]
    finally:
        w.stop()
        await asyncio.wait_for(task, 10)
        await w.aclose()


async def test_queues_changed_before_run_and_while_quiet(r: redis.Redis, redis_url: str) -> None:
    app = App()
    ran: list[int] = []

    @app.job("Rec")
    async def rec(i: int) -> None:
        ran.append(i)

    w = make_worker(app, redis_url, {"default": 1})
    w.add_queue("extra", 1)
    w.pause_queue("default")
    push(r, Job.new("Rec", [1], queue="extra"))
    push(r, Job.new("Rec", [2]))
    task = asyncio.create_task(w.run())
    try:
        await wait_for(lambda: ran == [1])
        assert info(r, w)["queues"] == ["extra"]
        w.set_quiet()
        w.resume_queue("default")  # still quiet: nothing is fetched
        await asyncio.sleep(0.8)
        assert ran == [1] and r.llen(K.queue("default")) == 1
    finally:
        w.stop()
        await asyncio.wait_for(task, 10)
        await w.aclose()
