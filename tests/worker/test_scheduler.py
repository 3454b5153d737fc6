"""The scheduled/retry poller and orphan recovery against a real Redis."""

from __future__ import annotations

import asyncio
import json
import random

import redis
import redis.asyncio

from tests.support.garbage import deep_args, deep_object, holders
from tests.support.replies import zmembers
from tests.support.verk_dump import load, members
from verk_compat.codec.job import Job
from verk_compat.codec.verk import VerkJob
from verk_compat.keys import Keys
from verk_compat.worker.orphans import recover_orphans
from verk_compat.worker.process_set import cleanup, live_count
from verk_compat.worker.scheduler import Scheduler

K = Keys()


async def test_due_jobs_move_to_their_queues_with_enqueued_at(
    r: redis.Redis, ar: redis.asyncio.Redis
) -> None:
    due = Job.new("A", [1], queue="q1").encode()
    retry = Job.new("B", [2], queue="q2").replace(retry_count=0, error_class="E").encode()
    later = Job.new("C", [3]).encode()
    r.zadd(K.schedule, {due: 1.0, later: 9e12})
    r.zadd(K.retry, {retry: 2.0})
    assert await Scheduler(ar, K).poll() == 2
    [moved] = r.lrange(K.queue("q1"), 0, -1)
    job = Job.decode(moved)
    assert job.args == [1] and job.enqueued_at is not None
    assert Job.decode(r.lrange(K.queue("q2"), 0, -1)[0]).retry_count == 0
    assert r.smembers(K.queues) == {b"q1", b"q2"}
    assert r.zrange(K.schedule, 0, -1) == [later]
    assert r.zcard(K.retry) == 0


async def test_members_without_retry_or_queue_get_sidekiqs_defaults(
    r: redis.Redis, ar: redis.asyncio.Redis
) -> None:
    # A foreign writer's member with only class/args/jid: Sidekiq's Client#push merges
    # retry: true and queue: "default" when the poller re-pushes it.
    bare = b'{"class":"Foreign","args":[1],"jid":"0123456789abcdef01234567"}'
    r.zadd(K.schedule, {bare: 1.0})
    assert await Scheduler(ar, K).poll() == 1
    job = Job.decode(r.lindex(K.queue("default"), 0) or b"")
    assert (job.retry, job.queue, job.args) == (True, "default", [1])


async def test_racing_pollers_never_double_a_job(r: redis.Redis, redis_url: str) -> None:
    members = {Job.new("A", [i]).encode(): float(i) for i in range(300)}
    r.zadd(K.schedule, members)
    clients = [redis.asyncio.Redis.from_url(redis_url) for _ in range(4)]
    try:
        moved = await asyncio.gather(*(Scheduler(c, K).poll() for c in clients))
    finally:
        for c in clients:
            await c.aclose()
    assert sum(moved) == 300
    assert r.llen(K.queue("default")) == 300
    assert r.zcard(K.schedule) == 0


async def test_unreadable_member_goes_to_quarantine_with_its_reason_never_dead(
    r: redis.Redis, ar: redis.asyncio.Redis
) -> None:
    r.zadd(K.schedule, {b"not json": 1.0})
    r.zadd(K.retry, {b'{"queue":7}': 1.0})
    await Scheduler(ar, K).poll()
    assert r.zcard(K.dead) == 0
    assert r.zcard(K.schedule) == 0 and r.zcard(K.retry) == 0
    [entry] = r.lrange(K.quarantine("schedule"), 0, -1)
    wrapped = json.loads(entry)
    assert wrapped["raw"] == "not json" and wrapped["source_key"] == "schedule"
    assert "JSON" in wrapped["reason"]
    [other] = r.lrange(K.quarantine("retry"), 0, -1)
    assert json.loads(other)["raw"] == '{"queue":7}'


async def test_json_with_a_queue_goes_there_byte_for_byte(
    r: redis.Redis, ar: redis.asyncio.Redis
) -> None:
    odd = b'{"queue":"elsewhere","class":5,"payload":"not a Sidekiq job"}'
    r.zadd(K.retry, {odd: 1.0})
    assert await Scheduler(ar, K).poll() == 1
    assert r.lrange(K.queue("elsewhere"), 0, -1) == [odd]
    assert r.zcard(K.dead) == 0


async def test_verk_members_go_back_to_their_queue_in_verks_format(
    r: redis.Redis, ar: redis.asyncio.Redis
) -> None:
    data = load(r, "02-processing.json")
    dead_before = r.zrange(K.dead, 0, -1)
    due = members(data, "retry") + members(data, "schedule")
    for zset in (K.retry, K.schedule):
        r.zadd(zset, dict.fromkeys(zmembers(r, zset), 1.0))
    # A worker serving an unrelated queue polls the shared sets.
    assert await Scheduler(ar, K).poll() == len(due)
    assert r.zrange(K.dead, 0, -1) == dead_before
    assert not r.keys("verk:quarantine:*")
    pushed = r.lrange(K.queue("default"), 0, -1)
    assert len(pushed) == len(due)
    by_jid = {VerkJob.decode(raw).jid: raw for raw in pushed}
    for raw in due:
        before = VerkJob.decode(raw)
        after = by_jid[before.jid]
        if before.enqueued_at is not None:
            assert after == raw  # a retry goes back untouched
        else:  # Verk.schedule's null enqueued_at is set, as Verk's poller does
            job = VerkJob.decode(after)
            assert job.enqueued_at is not None and job.args == before.args
            assert list(json.loads(after)) == sorted(json.loads(raw))


async def test_jittered_interval(ar: redis.asyncio.Redis, r: redis.Redis) -> None:
    sched = Scheduler(ar, K, rng=random.Random(3))
    waits = [await sched.wait_time() for _ in range(50)]
    assert all(2.5 <= w <= 7.5 for w in waits)
    for identity in ("a", "b"):  # two live processes: their heartbeat hashes exist
        r.sadd(K.processes, identity)
        r.hset(K.process(identity), "info", "{}")
    more = [await sched.wait_time() for _ in range(20)]
    assert all(5 <= w <= 15 for w in more)
    fixed = Scheduler(ar, K, interval=0.2)
    assert 0.1 <= await fixed.wait_time() <= 0.3


async def test_crashed_processes_are_pruned_and_not_counted(
    r: redis.Redis, ar: redis.asyncio.Redis
) -> None:
    """Issue 15: members of ``processes`` whose heartbeat hash had expired (crashed pods) were
    never pruned and counted in the poll interval: after 12 crashed pods a job due in 3 s ran
    after 63 s. They are pruned at start (under ``process_cleanup``, Sidekiq's
    ``ProcessSet#cleanup``) and periodically, and only live processes are counted."""
    live = "web:1:aaaaaaaaaaaa"
    r.sadd(K.processes, live, *(f"crashed-{i}:1:bbbbbbbbbbbb" for i in range(12)))
    r.hset(K.process(live), "info", "{}")
    sched = Scheduler(ar, K, rng=random.Random(1))
    waits = [await sched.wait_time() for _ in range(20)]
    assert all(2.5 <= w <= 7.5 for w in waits)  # one live process: i = 5 s
    assert r.smembers(K.processes) == {live.encode()}
    assert r.ttl(K.process_cleanup) > 0
    # More pods crash while the lock still holds: not pruned yet, but never counted.
    r.sadd(K.processes, "late-crash:1:cccccccccccc")
    waits = [await sched.wait_time() for _ in range(20)]
    assert all(2.5 <= w <= 7.5 for w in waits)
    # Once the lock has expired, the next periodic cleanup (every 10th computation) prunes.
    r.delete(K.process_cleanup)
    for _ in range(10):
        await sched.wait_time()
    assert r.smembers(K.processes) == {live.encode()}


async def test_cleanup_runs_at_most_once_a_minute_across_processes(
    r: redis.Redis, ar: redis.asyncio.Redis
) -> None:
    r.sadd(K.processes, "gone:1:aaaaaaaaaaaa", b"\xffnot-utf8")
    assert await cleanup(ar, K) == 1
    r.sadd(K.processes, "gone:2:aaaaaaaaaaaa")
    assert await cleanup(ar, K) == 0  # another process (or Sidekiq) pruned within the minute
    assert r.smembers(K.processes) == {b"gone:2:aaaaaaaaaaaa", b"\xffnot-utf8"}
    assert await live_count(ar, K) == 0


async def test_orphans_of_dead_processes_come_back(r: redis.Redis, ar: redis.asyncio.Redis) -> None:
    dead_id, live_id, me = "h:1:aaaaaaaaaaaa", "h:2:bbbbbbbbbbbb", "h:3:cccccccccccc"
    r.rpush(K.inprogress("q", dead_id), b"3", b"2", b"1")  # 1 was fetched first
    r.rpush(K.inprogress("q", live_id), b"live")
    r.hset(K.process(live_id), "info", "{}")
    r.lpush(K.queue("q"), b"queued")
    assert await recover_orphans(ar, K, me) == 3
    assert r.lrange(K.queue("q"), 0, -1) == [b"queued", b"3", b"2", b"1"]
    assert r.exists(K.inprogress("q", dead_id)) == 0
    assert r.lrange(K.inprogress("q", live_id), 0, -1) == [b"live"]
    assert r.exists(K.orphan_lock) == 0


async def test_orphan_recovery_skips_while_another_holds_the_lock(
    r: redis.Redis, ar: redis.asyncio.Redis
) -> None:
    r.rpush(K.inprogress("q", "h:1:aaaaaaaaaaaa"), b"x")
    r.set(K.orphan_lock, "someone", ex=30)
    assert await recover_orphans(ar, K, "h:3:cccccccccccc") == 0
    assert r.llen(K.inprogress("q", "h:1:aaaaaaaaaaaa")) == 1
    assert r.get(K.orphan_lock) == b"someone"


async def test_member_that_cannot_be_re_encoded_goes_to_its_queue_untouched(
    r: redis.Redis, ar: redis.asyncio.Redis
) -> None:
    """Review finding: a member that decodes but cannot be written back under the profile
    (here ``created_at`` 1e308 s has no integer-ms form for ``sidekiq8``) raised out of
    ``poll`` with an error that ``run`` does not catch: the poller task died silently and no
    scheduled job or retry of this process moved again. It is a readable job, so it goes to its
    queue (``default`` without one) untouched, as Sidekiq's poller would push it."""
    poison = b'{"class":"A","args":[],"jid":"0123456789abcdef01234567","created_at":1e308}'
    good = Job.new("B", [1]).encode()
    r.zadd(K.schedule, {poison: 1.0, good: 2.0})
    assert await Scheduler(ar, K, profile="sidekiq8").poll() == 2
    assert r.zcard(K.dead) == 0
    assert poison in r.lrange(K.queue("default"), 0, -1)
    assert r.llen(K.queue("default")) == 2
    assert r.zcard(K.schedule) == 0


async def test_poller_survives_an_unexpected_error(r: redis.Redis, ar: redis.asyncio.Redis) -> None:
    """Whatever goes wrong in one poll, the poller logs it and polls again."""
    sched = Scheduler(ar, K, interval=0.05)
    calls = 0
    real = sched.poll

    async def flaky() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("boom")
        return await real()

    sched.poll = flaky  # type: ignore[method-assign]
    task = asyncio.create_task(sched.run())
    r.zadd(K.schedule, {Job.new("B", [1]).encode(): 1.0})
    try:
        for _ in range(100):
            if r.llen(K.queue("default")):
                break
            await asyncio.sleep(0.02)
        assert not task.done(), task
        assert r.llen(K.queue("default")) == 1
    finally:
        task.cancel()


async def test_orphan_recovery_rechecks_liveness_atomically(
    r: redis.Redis, ar: redis.asyncio.Redis
) -> None:
    """Review finding: recovery checked ``EXISTS <identity>`` and then requeued in a second
    command; a process whose beat landed in between (a stalled loop catching up) lost its
    in-progress jobs while it still ran them. ``requeue.lua`` now checks the hash itself."""
    slow = "h:1:aaaaaaaaaaaa"
    r.rpush(K.inprogress("q", slow), b"running")
    real_exists = ar.exists

    async def exists_then_beat(*names: str) -> int:
        answer: int = await real_exists(*names)
        r.hset(K.process(slow), "info", "{}")  # the slow process beats right after the check
        return answer

    ar.exists = exists_then_beat  # type: ignore[method-assign,assignment]
    assert await recover_orphans(ar, K, "h:3:cccccccccccc") == 0
    assert r.lrange(K.inprogress("q", slow), 0, -1) == [b"running"]
    assert r.llen(K.queue("q")) == 0


async def test_a_deeply_nested_member_never_stops_the_poller(
    r: redis.Redis, ar: redis.asyncio.Redis
) -> None:
    # Issue 16: one member nested ~1,000 levels escaped the codec as RecursionError and stopped
    # every retry and scheduled job for good (0 of 100 moved).
    for zset in (K.retry, K.schedule):
        r.zadd(zset, {deep_args(): 0.5, deep_object(): 0.6})
        r.zadd(zset, {Job.new("A", [zset, i]).encode(): 1.0 + i for i in range(100)})
    await Scheduler(ar, K).poll()
    assert r.llen(K.queue("default")) == 200
    assert r.zcard(K.retry) == r.zcard(K.schedule) == 0
    for member in (deep_args(), deep_object()):
        assert holders(r, member) not in ([], [K.retry], [K.schedule])  # kept, elsewhere
