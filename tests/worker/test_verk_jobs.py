"""A Python worker on a Redis holding real Verk 1.7.3 state (fixtures/verk-1.7.3/ dumps)."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import redis
import redis.asyncio

from tests.support.replies import zmembers, zscored
from tests.support.verk_dump import load, members, performed
from verk_compat.codec.verk import VERK_KEYS, VerkJob
from verk_compat.keys import Keys
from verk_compat.worker.app import App
from verk_compat.worker.launcher import Worker
from verk_compat.worker.orphans import recover_orphans
from verk_compat.worker.verk import verk_failure

K = Keys()
FAILING = ("FailWorker", "FlakyWorker", "ThrowWorker", "ExitWorker")


def verk_app(seen: list[tuple[str, list[Any]]]) -> App:
    app = App()

    def recorder(name: str) -> Any:
        def perform(*args: Any) -> None:
            seen.append((name, list(args)))
            if name in FAILING:
                raise RuntimeError(f"boom from {name}")

        return perform

    for name in ("MyWorker", "AnyWorker", "SlowWorker", *FAILING):
        app.job(name)(recorder(name))
    return app


async def run_burst(app: App, url: str, queues: dict[str, int]) -> None:
    w = Worker(app, queues, redis_url=url, burst=True, block_timeout=0.2, beat_interval=0.2)
    try:
        await asyncio.wait_for(w.run(), 20)
    finally:
        await w.aclose()


async def test_verk_jobs_run_with_verks_args_and_fail_into_verks_format(
    r: redis.Redis, redis_url: str
) -> None:
    data = load(r, "01-enqueued.json")
    r.delete(K.schedule)  # not due yet in the recording; not this test's subject
    queued = [VerkJob.decode(raw) for raw in members(data, "queue:default")]
    seen: list[tuple[str, list[Any]]] = []
    await run_burst(verk_app(seen), redis_url, {"default": 5})

    firsts = {rec["jid"]: rec for rec in performed() if rec["retry_count"] == 0}
    expected = sorted(json.dumps([firsts[j.jid]["worker"], firsts[j.jid]["args"]]) for j in queued)
    # args equal (types included) to what Verk's own decode gave its workers
    assert sorted(json.dumps(list(entry)) for entry in seen) == expected
    assert r.llen(K.queue("default")) == 0 and not r.keys("inprogress:*")

    by_jid = {job.jid: job for job in queued}
    failed = [*r.zrange(K.retry, 0, -1, withscores=True), *r.zrange(K.dead, 0, -1, withscores=True)]
    assert len(failed) == sum(1 for j in queued if j.class_name in FAILING)
    for member, score in failed:
        assert list(json.loads(member)) == list(VERK_KEYS)  # Verk's 13 keys, alphabetical
        job = VerkJob.decode(member)
        before = by_jid[job.jid]
        assert (
            job.args == before.args
            and json.loads(member)["args"] == json.loads(before.encode())["args"]
        )
        assert job.retry_count == 1 and isinstance(job.failed_at, int) and job.retried_at is None
        assert job.error_message == f"boom from {job.class_name}"
        assert (
            isinstance(job.error_backtrace, str) and job.max_retry_count == before.max_retry_count
        )
        in_retry = r.zscore(K.retry, member) is not None
        assert in_retry == (before.max_retries > 1)
        if in_retry:  # Verk's backoff for count 1: 1 + 15 + rand(30) * 2
            assert 16 <= score - job.failed_at <= 16 + 29 * 2


async def test_second_failure_counts_on_and_keeps_failed_at(r: redis.Redis, redis_url: str) -> None:
    data = load(r, "03-after-run.json")
    [first] = [m for m in members(data, "retry") if b"FailWorker" in m]
    r.delete(K.retry, K.schedule)
    r.lpush(K.queue("default"), first)  # as Verk's poller would move it back
    await run_burst(verk_app([]), redis_url, {"default": 1})
    [(member, score)] = zscored(r, K.retry)
    job, before = VerkJob.decode(member), VerkJob.decode(first)
    assert (job.retry_count, job.failed_at) == (2, before.failed_at)
    assert isinstance(job.retried_at, int)
    assert 2**4 + 15 <= score - job.retried_at <= 2**4 + 15 + 29 * 3
    assert r.llen(K.queue("other")) == 1  # Verk's other queue is not this worker's


async def test_worker_on_an_unrelated_queue_leaves_verk_alone(
    r: redis.Redis, redis_url: str
) -> None:
    data = load(r, "06-killed-node.json")
    for zset in (K.retry, K.schedule):  # make every member due
        r.zadd(zset, dict.fromkeys(zmembers(r, zset), 1.0))
    due = members(data, "retry") + members(data, "schedule")
    untouched = [k for k in data if k not in ("retry", "schedule") and data[k]["type"] == "list"]
    lists = {key: r.lrange(key, 0, -1) for key in untouched}
    dead = r.zrange(K.dead, 0, -1, withscores=True)
    w = Worker(verk_app([]), {"unrelated": 1}, redis_url=redis_url, poll_interval=0.05)
    task = asyncio.create_task(w.run())
    for _ in range(100):
        if r.llen(K.queue("default")) == len(due):
            break
        await asyncio.sleep(0.05)
    w.stop()
    await asyncio.wait_for(task, 20)
    await w.aclose()
    assert {key: r.lrange(key, 0, -1) for key in untouched} == lists
    assert r.zrange(K.dead, 0, -1, withscores=True) == dead
    assert r.smembers("verk_nodes") == {m for m in members(data, "verk_nodes")}
    assert not r.keys("verk:quarantine:*")
    pushed = sorted(r.lrange(K.queue("default"), 0, -1))
    assert len(pushed) == len(due)
    for raw in pushed:
        job = VerkJob.decode(raw)
        assert list(json.loads(raw)) == list(VERK_KEYS) and job.enqueued_at is not None


def test_verk_failure_rules() -> None:
    job = VerkJob("W", [1], jid="1", queue="q", max_retry_count=2)
    rng = random.Random(1)
    first = verk_failure(job, ValueError("x"), now=100.5, rng=rng)
    assert first.target == "retry" and first.payload.failed_at == 100
    second = verk_failure(first.payload, ValueError("y"), now=200.0, rng=rng)
    assert second.target == "dead" and second.score == 200.0
    assert (second.payload.retry_count, second.payload.failed_at) == (2, 100)
    assert second.payload.retried_at == 200
    zero = verk_failure(VerkJob("W", queue="q", max_retry_count=0), ValueError(), now=1, rng=rng)
    assert zero.target == "dead"


async def test_orphan_recovery_leaves_verk_in_progress_lists(
    r: redis.Redis, redis_url: str
) -> None:
    # Verk's node id has no ":", so a queue named "a:b:c" gives a key that splits like an
    # identity: inprogress:a:b:c:1 is still Verk's (node 1), never a dead Python process's.
    verk_key = "inprogress:a:b:c:1"
    r.rpush(verk_key, b"running in Verk")
    r.rpush("inprogress:default:37408014322574381747", b"running in Verk too")
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        assert await recover_orphans(client, K, "h:3:cccccccccccc") == 0
    finally:
        await client.aclose()
    assert r.lrange(verk_key, 0, -1) == [b"running in Verk"]
    assert not r.keys("queue:*")


async def test_sidekiq_job_moved_by_verks_lua_runs_not_buried(
    r: redis.Redis, redis_url: str
) -> None:
    # A job this project wrote, moved back by Verk's poller: cjson order, \/ and {} for [].
    moved = (
        b'{"retry":true,"tags":{},"enqueued_at":1795885364,"class":"AnyWorker","args":{},'
        b'"jid":"659f3ca31f6da5e51d87a8dc","queue":"default","created_at":1795885411.6713}'
    )
    r.lpush(K.queue("default"), moved)
    seen: list[tuple[str, list[Any]]] = []
    await run_burst(verk_app(seen), redis_url, {"default": 1})
    assert seen == [("AnyWorker", [])]
    assert r.zcard(K.dead) == 0 and not r.keys("inprogress:*") and r.llen(K.queue("default")) == 0
