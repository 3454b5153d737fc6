"""Migrations between two real Redis servers: copy, crash at every step, rerun exactly once."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis

from tests.support.migrate import Crash, crash_after, resque_jobs, sidekiq_run_order
from tests.support.replies import as_bytes
from verk_compat.codec.job import Job
from verk_compat.devtools.redis_server import EmbeddedRedis
from verk_compat.keys import Keys, ResqueKeys
from verk_compat.migrate import migrate

K, RK = Keys(), ResqueKeys()


@pytest.fixture(scope="module")
def second_server() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture
def b(second_server: EmbeddedRedis) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(second_server.url)
    client.flushall()
    yield client
    client.close()


def fill_sidekiq(r: redis.Redis, n: int) -> list[bytes]:
    payloads = [Job.new("W", [i], queue="default").encode() for i in range(n)]
    r.lpush(K.queue("default"), *payloads)
    r.sadd(K.queues, "default", "low")
    r.zadd(K.schedule, {payloads[0]: "1900000000.5"})
    r.zadd(K.dead, {payloads[1]: "1700000000.123456"})
    r.set(K.stat_processed, 10)
    r.set(K.key("stat:failed:2024-01-01"), 2, ex=500)
    r.sadd(K.processes, "h:1:x")
    r.hset(K.process("h:1:x"), "info", "{}")
    return payloads


def test_copy_moves_every_data_key(r: redis.Redis, b: redis.Redis) -> None:
    payloads = fill_sidekiq(r, 10)
    b.set(K.stat_processed, 5)
    result = migrate("move", r, b)
    assert result.ok and set(result.skipped) == {"processes", "h:1:x"}
    assert b.lrange(K.queue("default"), 0, -1) == list(reversed(payloads))
    assert b.zrange(K.schedule, 0, -1, withscores=True) == [(payloads[0], 1900000000.5)]
    assert b.zscore(K.dead, payloads[1]) == 1700000000.123456
    assert b.smembers(K.queues) == {b"default", b"low"}
    assert b.get(K.stat_processed) == b"15"
    assert 400 < b.ttl(K.key("stat:failed:2024-01-01")) <= 500
    assert not b.exists(K.processes, "h:1:x")
    assert set(r.keys("*")) == {b"processes", b"h:1:x"}  # bookkeeping cleaned up
    assert b.keys("verk:*") == []


@pytest.mark.parametrize(("step", "n"), [("marked", 1), ("applied", 4), ("moved", 7)])
def test_crash_at_each_step_then_rerun_exactly_once(
    r: redis.Redis, b: redis.Redis, step: str, n: int
) -> None:
    payloads = fill_sidekiq(r, 10)
    with pytest.raises(Crash):
        migrate("move", r, b, hook=crash_after(n, step))
    result = migrate("move", r, b)
    assert result.ok
    assert b.lrange(K.queue("default"), 0, -1) == list(reversed(payloads))
    assert r.llen(K.queue("default")) == 0
    assert result.total("recovered") == (0 if step == "moved" else 1)


def test_crash_after_apply_on_counter_does_not_double(r: redis.Redis, b: redis.Redis) -> None:
    r.set(K.stat_processed, 10)
    with pytest.raises(Crash):
        migrate("move", r, b, hook=crash_after(1, "applied"))
    assert b.get(K.stat_processed) == b"10" and r.get(K.stat_processed) == b"10"
    migrate("move", r, b)
    assert b.get(K.stat_processed) == b"10" and not r.exists(K.stat_processed)


def test_resque_to_sidekiq_across_servers_with_crash(r: redis.Redis, b: redis.Redis) -> None:
    resque_jobs(r, "default", 12)
    r.rpush(RK.queue("default"), b"{broken")
    with pytest.raises(Crash):
        migrate("resque-to-sidekiq", r, b, hook=crash_after(5, "applied"))
    result = migrate("resque-to-sidekiq", r, b)
    assert result.ok and result.total("quarantined") == 1
    ran = sidekiq_run_order(b, K.queue("default"))
    assert [job["args"][0] for job in ran] == list(range(12))
    assert b.smembers(K.queues) == {b"default"}
    source_entry = r.lindex(K.quarantine(RK.queue("default")), 0)  # on the source server
    entry = json.loads(as_bytes(source_entry))
    assert entry["raw"] == "{broken"


def test_dry_run_across_servers_writes_nothing(r: redis.Redis, b: redis.Redis) -> None:
    fill_sidekiq(r, 3)
    dumps = {k: r.dump(k) for k in r.keys("*")}
    result = migrate("move", r, b, dry_run=True)
    assert result.total("moved") == 3 + 2 + 2 + 2  # list, zsets, set members, counters
    assert {k: r.dump(k) for k in r.keys("*")} == dumps and b.dbsize() == 0
