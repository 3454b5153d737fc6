"""The admin API against a real Redis, on data written by verk-compat's own client and the
worker's failure rules (``retry.next_attempt``)."""

from __future__ import annotations

import datetime as dt
import json
import random
import time

import pytest
import redis

from tests.support.replies import hset_fields
from verk_compat.api import DeadSet, ProcessSet, Queue, RetrySet, ScheduledSet, Stats
from verk_compat.client.client import Client
from verk_compat.codec.job import Job, now
from verk_compat.keys import Keys
from verk_compat.lua import DEAD_TIMEOUT
from verk_compat.worker.process_info import heartbeat_fields
from verk_compat.worker.retry import Retry, next_attempt

K = Keys()


def failed_member(r: redis.Redis, job: Job, *, count: int | None = None) -> tuple[float, bytes]:
    """ZADD ``job`` to ``retry`` as the worker's failure rules build it; (score, member)."""
    if count is not None:
        job = job.replace(retry_count=count)
    decision = next_attempt(
        job, ValueError("boom"), queue=job.queue or "default", now=now(), rng=random.Random(1)
    )
    assert isinstance(decision, Retry)
    member = decision.payload.encode()
    r.zadd(K.retry, {member: decision.at})
    return decision.at, member


def test_queue_size_iteration_find_delete_clear(redis_url: str, r: redis.Redis) -> None:
    with Client(redis_url) as client:
        jids = [client.enqueue("HardWorker", [i], queue="mailers") for i in range(3)]
        client.enqueue("Other", [])
    queue = Queue(r, "mailers")
    assert queue.size() == 3 and 0 <= queue.latency() < 5
    records = list(queue)
    assert [rec.jid for rec in records] == jids[::-1]  # newest first
    assert [rec.raw for rec in records] == r.lrange(K.queue("mailers"), 0, -1)
    found = queue.find_job(jids[1])
    assert found is not None and found.job is not None and found.job.args == [1]
    assert queue.find_job("nope") is None
    assert queue.delete(found) and not queue.delete(found)
    assert [q.name for q in Queue.all(r)] == ["default", "mailers"]
    assert queue.clear() == 2
    assert not r.exists(K.queue("mailers")) and not r.sismember(K.queues, "mailers")


def test_queue_latency_uses_oldest_job(r: redis.Redis) -> None:
    old = Job.new("W", created_at=now() - 100).replace(enqueued_at=now() - 60).encode()
    r.lpush(K.queue("default"), old, Job.new("W").replace(enqueued_at=now()).encode())
    assert 59 < Queue(r).latency() < 65
    assert Queue(r, "empty").latency() == 0.0


def test_queue_keeps_invalid_payloads_deletable(r: redis.Redis) -> None:
    r.lpush(K.queue("default"), b"not json")
    (record,) = list(Queue(r))
    assert record.job is None and record.jid is None and record.summary()["payload"] == "not json"
    assert Queue(r).delete(record) and Queue(r).size() == 0


def test_namespace(redis_url: str, r: redis.Redis) -> None:
    ns = Keys("ns")
    with Client(redis_url, namespace="ns") as client:
        jid = client.enqueue("W", [1])
        client.enqueue_in(60, "W", [2])
    assert [q.name for q in Queue.all(r, ns)] == ["default"]
    assert Queue(r, keys=ns).find_job(jid) is not None and Queue(r).size() == 0
    assert ScheduledSet(r, keys=ns).size() == 1 and ScheduledSet(r).size() == 0
    assert Stats(r, ns).enqueued == 1 and Stats(r).enqueued == 0


def test_retry_now_decrements_and_requeues(r: redis.Redis) -> None:
    job = Job.new("HardWorker", [1, "two"], queue="critical")
    score, member = failed_member(r, job, count=2)
    retries = RetrySet(r)
    (entry,) = list(retries)
    assert (entry.score, entry.raw) == (score, member)
    assert entry.job is not None and entry.job.retry_count == 3
    found = retries.find_job(str(job.jid))
    assert found == entry
    assert retries.retry(entry) and not retries.retry(entry)
    assert retries.size() == 0 and r.sismember(K.queues, "critical")
    (pushed,) = r.lrange(K.queue("critical"), 0, -1)
    again = Job.decode(pushed)
    assert again.retry_count == 2 and again.error_class == "ValueError"
    assert again.enqueued_at is not None and abs(again.enqueued_at - now()) < 5


def test_kill_moves_exact_bytes_and_trims(r: redis.Redis) -> None:
    stale = Job.new("Old").encode()
    r.zadd(K.dead, {stale: now() - DEAD_TIMEOUT - 10})
    _, member = failed_member(r, Job.new("W", [1]))
    retries, dead = RetrySet(r), DeadSet(r)
    (entry,) = list(retries)
    assert retries.kill(entry) and not retries.kill(entry)
    assert r.zrange(K.dead, 0, -1) == [member]  # the stale one was trimmed
    (gone,) = list(dead)
    assert abs(gone.score - now()) < 5 and gone.raw == member


def test_delete_uses_exact_member_not_reserialized(r: redis.Redis) -> None:
    odd = b'{ "class" : "W", "args" : [1.50], "jid" : "abc", "retry" : true }'
    r.zadd(K.retry, {odd: 1.0})
    retries = RetrySet(r)
    entry = retries.find_job("abc")
    assert entry is not None and entry.job is not None
    assert entry.job.encode() == odd  # unchanged jobs encode to their bytes anyway
    assert retries.delete(entry) and retries.size() == 0


def test_retry_all_skips_invalid_and_kill_all_takes_everything(r: redis.Redis) -> None:
    for i in range(150):
        failed_member(r, Job.new("W", [i]))
    r.zadd(K.retry, {b"garbage": 5.0})
    retries = RetrySet(r)
    assert retries.retry_all() == 150
    assert r.llen(K.queue("default")) == 150 and r.zrange(K.retry, 0, -1) == [b"garbage"]
    (bad,) = list(retries)
    with pytest.raises(Exception, match="not a job payload"):
        retries.retry(bad)
    failed_member(r, Job.new("W", []))
    assert retries.kill_all() == 2 and DeadSet(r).size() == 2 and retries.size() == 0


def test_dead_retry_clear_and_delete_all(r: redis.Redis) -> None:
    job = Job.new("W", [1]).replace(retry_count=25, error_class="E", error_message="m")
    r.zadd(K.dead, {job.encode(): now(), Job.new("X").encode(): now()})
    dead = DeadSet(r)
    entry = dead.find_job(str(job.jid))
    assert entry is not None and dead.retry(entry)
    assert Job.decode(r.lindex(K.queue("default"), 0) or b"").retry_count == 24
    assert dead.clear() == 1 and dead.size() == 0
    r.zadd(K.retry, {Job.new("Y").encode(): 1.0})
    assert RetrySet(r).delete_all() == 1


def test_scheduled_add_to_queue_keeps_payload(redis_url: str, r: redis.Redis) -> None:
    with Client(redis_url) as client:
        jid = client.enqueue_in(3600, "Later", [1], queue="low")
        client.enqueue_in(3600, "Later", [2])
    scheduled = ScheduledSet(r)
    entry = scheduled.find_job(jid)
    assert entry is not None and entry.at > dt.datetime.now(dt.UTC)
    assert scheduled.add_to_queue(entry)
    pushed = json.loads(r.lindex(K.queue("low"), 0) or b"")
    assert pushed["jid"] == jid and "retry_count" not in pushed and "enqueued_at" in pushed
    assert scheduled.add_all_to_queue() == 1 and scheduled.size() == 0
    assert scheduled.kill_all() == 0


def beat(r: redis.Redis, identity: str, *, busy: int, quiet: bool, keys: Keys = K) -> None:
    info = json.dumps({"identity": identity, "queues": ["default"], "concurrency": 5}).encode()
    fields = heartbeat_fields(
        info, busy=busy, quiet=quiet, beat=time.time(), rss=1, rtt_us=2, concurrency=5
    )
    r.sadd(keys.processes, identity)
    hset_fields(r, keys.process(identity), fields)


def test_stats(r: redis.Redis) -> None:
    today = dt.datetime.now(dt.UTC).date()
    r.mset({K.stat_processed: 10, K.stat_failed: 3, K.stat_processed_day(today): 4})
    r.set(K.stat_failed_day(today - dt.timedelta(days=1)), 2)
    r.lpush(K.queue("default"), Job.new("W").replace(enqueued_at=now() - 30).encode())
    r.sadd(K.queues, "default", "other")
    r.rpush(K.queue("other"), b"x", b"y")
    r.zadd(K.retry, {b"a": 1})
    r.zadd(K.dead, {b"b": 1, b"c": 2})
    beat(r, "h:1:aaa", busy=2, quiet=False)
    beat(r, "h:2:bbb", busy=1, quiet=True)
    stats = Stats(r)
    assert (stats.processed, stats.failed, stats.retry_size, stats.dead_size) == (10, 3, 1, 2)
    assert (stats.scheduled_size, stats.processes_size, stats.busy, stats.enqueued) == (0, 2, 3, 3)
    assert stats.queues == {"other": 2, "default": 1}
    assert 29 < stats.default_queue_latency < 35
    history = stats.history(3)
    assert [(h.processed, h.failed) for h in history] == [(4, 0), (0, 2), (0, 0)]
    assert history[0].day == today


def test_process_set_signals_and_cleanup(r: redis.Redis) -> None:
    beat(r, "h:1:aaa", busy=2, quiet=False)
    beat(r, "h:2:bbb", busy=0, quiet=True)
    r.sadd(K.processes, "gone:3:ccc")  # no hash: not live
    processes = ProcessSet(r)
    live = list(processes)
    assert [p.identity for p in live] == ["h:1:aaa", "h:2:bbb"]
    assert [(p.busy, p.quiet, p.queues) for p in live] == [
        (2, False, ["default"]),
        (0, True, ["default"]),
    ]
    assert processes.size() == 3 and processes.busy() == 2
    assert processes.get("gone:3:ccc") is None and processes.get("h:1:aaa") == live[0]
    processes.quiet("h:1:aaa")
    processes.stop("h:1:aaa")
    assert r.lrange(K.signals("h:1:aaa"), 0, -1) == [b"TERM", b"TSTP"]
    assert 0 < r.ttl(K.signals("h:1:aaa")) <= 60
    assert processes.cleanup() == 1 and processes.cleanup() == 0  # lock held for 60 s
    assert r.smembers(K.processes) == {b"h:1:aaa", b"h:2:bbb"}
