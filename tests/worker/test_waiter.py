"""Many queues, bounded connections: blocking slots for busy queues, one poller for the rest."""

from __future__ import annotations

import asyncio

import redis
import redis.asyncio

from verk_compat.codec.job import Job
from verk_compat.keys import Keys
from verk_compat.worker.app import App
from verk_compat.worker.fetch import Fetcher
from verk_compat.worker.launcher import Worker
from verk_compat.worker.waiter import Waiter

K = Keys()
ID = "host:1:waiter"


def connections(r: redis.Redis) -> int:
    return len(r.client_list()) - 1  # without the probe itself


async def test_polled_queue_gets_its_job_and_idle_queue_times_out(
    r: redis.Redis, ar: redis.asyncio.Redis
) -> None:
    waiter = Waiter(ar, blocking=0, poll_interval=0.01, polled_timeout=0.2)
    poller = asyncio.create_task(waiter.run())
    try:
        a, b = Fetcher(ar, K, "a", ID), Fetcher(ar, K, "b", ID)
        wait_a = asyncio.create_task(waiter.wait(a, 5))
        wait_b = asyncio.create_task(waiter.wait(b, 0.1))  # at least polled_timeout
        await asyncio.sleep(0.05)
        r.lpush(K.queue("a"), b"job-a")
        assert await wait_a == b"job-a"
        assert await wait_b is None
        released = asyncio.create_task(waiter.wait(b, 0.1))
        await asyncio.sleep(0.02)
        waiter.release(b.queue_key)  # the manager pauses: its wait ends at once
        assert await asyncio.wait_for(released, 0.1) is None
        assert r.lrange(K.inprogress("a", ID), 0, -1) == [b"job-a"]
        assert r.llen(K.queue("a")) == 0
    finally:
        poller.cancel()


async def test_slots_go_to_busy_queues_when_contended(
    r: redis.Redis, ar: redis.asyncio.Redis
) -> None:
    waiter = Waiter(ar, blocking=1, poll_interval=0.01)
    poller = asyncio.create_task(waiter.run())
    try:
        waiter.queue_count = 3  # more queues than slots
        busy = Fetcher(ar, K, "busy", ID)
        r.lpush(K.queue("busy"), b"j1")
        assert await waiter.wait(busy, 1) == b"j1"  # cold: polled, then hot
        assert busy.queue_key in waiter._hot
        blocked = asyncio.create_task(waiter.wait(busy, 1))
        await asyncio.sleep(0.05)
        assert waiter._blocked == 1  # hot: it holds the slot
        r.lpush(K.queue("busy"), b"j2")
        assert await blocked == b"j2"
        assert await waiter.wait(busy, 0.05) is None  # an empty blocking wait: cold again
        assert busy.queue_key not in waiter._hot
        waiter.queue_count = 1  # no contention: every queue blocks
        alone = Fetcher(ar, K, "alone", ID)
        waiting = asyncio.create_task(waiter.wait(alone, 0.2))
        await asyncio.sleep(0.05)
        assert waiter._blocked == 1
        assert await waiting is None
    finally:
        poller.cancel()


async def test_200_queues_hold_a_bounded_number_of_connections(
    r: redis.Redis, redis_url: str
) -> None:
    app = App()
    ran: list[int] = []

    @app.job("Many")
    async def many(i: int) -> None:
        ran.append(i)

    queues = {f"q{i}": 1 for i in range(200)}
    worker = Worker(app, queues, redis_url=redis_url, block_timeout=0.3, beat_interval=0.2)
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(1.0)  # every queue idle: most are polled now
        idle = connections(r)
        pipe = r.pipeline(transaction=False)
        for i in range(400):
            pipe.lpush(K.queue(f"q{i % 200}"), Job.new("Many", [i]).encode())
        pipe.execute()
        peak = 0
        for _ in range(400):
            peak = max(peak, connections(r))
            if len(ran) == 400:
                break
            await asyncio.sleep(0.02)
        assert sorted(ran) == list(range(400))
        bound = worker.waiter.connections + 8  # heartbeat, acker, scheduler, orphans, pool slack
        assert idle <= bound and peak <= bound, (idle, peak, bound)
        beat = r.hget(K.process(worker.identity), "beat")
        assert beat is not None
    finally:
        worker.stop()
        await asyncio.wait_for(task, 30)
        await worker.aclose()


async def test_a_job_moved_for_a_manager_that_stopped_waiting_is_not_lost(
    r: redis.Redis, ar: redis.asyncio.Redis
) -> None:
    waiter = Waiter(ar, blocking=0, poll_interval=0.05)
    fetcher = Fetcher(ar, K, "q", ID)
    # Stopped before the poll: its queue is no longer polled.
    waiting = asyncio.create_task(waiter.wait(fetcher, 5))
    await asyncio.sleep(0.01)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    r.lpush(K.queue("q"), b"late")
    await waiter._poll_once()
    assert r.lrange(K.queue("q"), 0, -1) == [b"late"]
    # Stopped while the poll that moved its job was in flight: the job is a stray in the
    # in-progress list, and the manager's reconcile (or shutdown's requeue) gives it back.
    waiting = asyncio.create_task(waiter.wait(fetcher, 5))
    await asyncio.sleep(0.01)
    poll = asyncio.create_task(waiter._poll_once())
    waiting.cancel()
    await asyncio.gather(waiting, poll, return_exceptions=True)
    assert r.lrange(K.inprogress("q", ID), 0, -1) == [b"late"]
    assert await fetcher.reconcile([]) == 1
    assert r.lrange(K.queue("q"), 0, -1) == [b"late"]
