"""Migrations on one real Redis: order, counts, quarantine, dry run, crash + rerun, CLI."""

from __future__ import annotations

import json

import pytest
import redis
from click.testing import CliRunner

from tests.support.garbage import deep_args, deep_object, nested
from tests.support.migrate import (
    VERK,
    Crash,
    crash_after,
    failure,
    resque_jobs,
    sidekiq_run_order,
    snapshot,
)
from tests.support.replies import as_bytes, zscored
from verk_compat.cli import main
from verk_compat.codec.job import Job
from verk_compat.keys import Keys, ResqueKeys
from verk_compat.lua import script
from verk_compat.migrate import migrate

K, RK = Keys(), ResqueKeys()


def test_resque_to_sidekiq_order_counts_quarantine_failed(r: redis.Redis) -> None:
    resque_jobs(r, "default", 20)
    pivot = as_bytes(r.lindex(RK.queue("default"), 5))
    # redis-py annotates LINSERT's pivot and value as str; bytes are sent as they are.
    r.linsert(RK.queue("default"), "BEFORE", pivot, b"{broken")  # type: ignore[arg-type]
    resque_jobs(r, "low", 3)
    r.rpush(RK.failed, failure(), failure(failed_at="2024/01/02 03:05:05 UTC"), b"junk")
    result = migrate("resque-to-sidekiq", r)
    assert result.ok
    assert result.as_dict()["totals"] == {
        "before": 27, "moved": 25, "quarantined": 2, "unchanged": 0, "left": 0,
        "conflicts": 0, "recovered": 0,
    }  # fmt: skip
    ran = sidekiq_run_order(r, K.queue("default"))
    assert [job["args"][0] for job in ran] == list(range(20))
    assert all(job["queue"] == "default" and job["retry"] is True for job in ran)
    assert len({job["jid"] for job in ran}) == 20
    assert [job["args"][0] for job in sidekiq_run_order(r, K.queue("low"))] == [0, 1, 2]
    assert r.smembers(K.queues) == {b"default", b"low"}
    assert r.llen(RK.queue("default")) == 0 and r.llen(RK.failed) == 0
    (bad,) = r.lrange(K.quarantine(RK.queue("default")), 0, -1)
    entry = json.loads(bad)
    assert entry["raw"] == "{broken" and entry["source_key"] == "resque:queue:default"
    assert "JSON" in entry["reason"]
    assert json.loads(as_bytes(r.lindex(K.quarantine(RK.failed), 0)))["raw"] == "junk"
    dead = zscored(r, K.dead)
    assert [score for _, score in dead] == [1704164645.0, 1704164705.0]
    assert json.loads(dead[0][0])["error_class"] == "RuntimeError"


def test_failed_to_retry_option(r: redis.Redis) -> None:
    r.rpush(RK.failed, failure())
    migrate("resque-to-sidekiq", r, failed="retry")
    assert r.zcard(K.retry) == 1 and r.zcard(K.dead) == 0


def test_dry_run_writes_nothing(r: redis.Redis) -> None:
    resque_jobs(r, "default", 5)
    r.rpush(RK.queue("default"), b"{broken")
    before = snapshot(r)
    result = migrate("resque-to-sidekiq", r, dry_run=True)
    assert snapshot(r) == before
    (rep,) = [rep for rep in result.reports if rep.before]
    assert (rep.before, rep.moved, rep.quarantined, rep.left) == (6, 5, 1, 0)
    assert json.loads(rep.samples[0])["args"] == [0, "j0"]


@pytest.mark.parametrize("n", [1, 7, 19])
def test_crash_then_rerun_moves_every_job_once(r: redis.Redis, n: int) -> None:
    resque_jobs(r, "default", 20)
    with pytest.raises(Crash):
        migrate("resque-to-sidekiq", r, hook=crash_after(n))
    assert r.llen(RK.queue("default")) + r.llen(K.queue("default")) == 20
    result = migrate("resque-to-sidekiq", r)
    assert result.ok and result.total("moved") == 20 - n
    ran = sidekiq_run_order(r, K.queue("default"))
    assert [job["args"][0] for job in ran] == list(range(20))


def test_move_script_refuses_a_changed_source(r: redis.Redis) -> None:
    r.rpush("src", b"a", b"b")
    move = script("migrate_move")
    assert move(r, ["src", "dst"], ["LEFT", b"b", "LEFT", b"B", ""]) == 0
    assert move(r, ["src", "dst"], ["RIGHT", b"b", "LEFT", b"B", ""]) == 1
    assert r.lrange("src", 0, -1) == [b"a"] and r.lrange("dst", 0, -1) == [b"B"]
    with pytest.raises(redis.ResponseError, match="integer"):
        move(r, ["src", "n"], ["LEFT", b"a", "COUNTER", b"x", ""])
    assert r.lrange("src", 0, -1) == [b"a"]  # checked before anything was removed


def test_sidekiq_to_resque_exact_payloads_in_order(r: redis.Redis) -> None:
    for i in range(6):
        r.lpush(K.queue("q"), Job.new("HardWorker", [i, {"x": 1.5}], queue="q").encode())
    r.sadd(K.queues, "q")
    r.zadd(K.retry, {Job.new("W").encode(): 1.0})
    result = migrate("sidekiq-to-resque", r)
    assert result.ok and result.skipped == ["retry"]
    expected = [b'{"class":"HardWorker","args":[%d,{"x":1.5}]}' % i for i in range(6)]
    assert r.lrange(RK.queue("q"), 0, -1) == expected  # Resque LPOPs index 0 first
    assert r.smembers(RK.queues) == {b"q"}


def test_namespace_to_plain_and_back(r: redis.Redis) -> None:
    ns = Keys("myapp")
    payloads = [Job.new("W", [i]).encode() for i in range(5)]
    r.lpush(ns.queue("default"), *payloads)
    r.sadd(ns.queues, "default")
    r.zadd(ns.dead, {payloads[0]: "1700000000.123456"})
    r.set(ns.stat_processed, 41)
    r.set(ns.key("stat:processed:2024-01-01"), 3, ex=1000)
    r.sadd(ns.processes, "host:1:abc")
    r.hset(ns.process("host:1:abc"), "info", "{}")
    r.hset(ns.work("host:1:abc"), "t1", "{}")
    r.lpush(ns.signals("host:1:abc"), "TSTP")
    r.set(K.stat_processed, 1)  # the plain target already counts
    result = migrate("namespace", r, namespace="myapp")
    assert result.ok
    assert r.lrange(K.queue("default"), 0, -1) == list(reversed(payloads))
    assert r.zrange(K.dead, 0, -1, withscores=True) == [(payloads[0], 1700000000.123456)]
    assert r.get(K.stat_processed) == b"42"
    assert 900 < r.ttl(K.key("stat:processed:2024-01-01")) <= 1000
    assert r.smembers(K.queues) == {b"default"}
    assert set(result.skipped) == {
        "myapp:processes", "myapp:host:1:abc", "myapp:host:1:abc:work", "myapp:host:1:abc-signals",
    }  # fmt: skip
    assert not r.exists(K.processes, "host:1:abc", ns.queue("default"), ns.dead)
    back = migrate("namespace", r, namespace="", to_namespace="other", queues=["default"])
    assert back.ok and r.lrange(Keys("other").queue("default"), 0, -1) == list(reversed(payloads))


def test_same_keys_are_refused(r: redis.Redis) -> None:
    with pytest.raises(ValueError, match="same keys"):
        migrate("move", r)


def test_verk_in_place_conversion_and_rerun(r: redis.Redis) -> None:
    sidekiq = Job.new("Native", [0], queue="default").encode()
    verk = [VERK.replace(b'"jid":"123456789012"', b'"jid":"%d"' % i) for i in range(6)]
    r.lpush(K.queue("default"), verk[0], verk[1], sidekiq, verk[2], b"{bad", verk[3])
    r.lpush(K.inprogress("default", "node1"), verk[4])
    r.zadd(K.retry, {verk[5]: 1700000100})
    with pytest.raises(Crash):
        migrate("verk-to-sidekiq", r, hook=crash_after(2))
    result = migrate("verk-to-sidekiq", r)
    assert result.ok
    jobs = [json.loads(p) for p in r.lrange(K.queue("default"), 0, -1)]
    jids = [job["jid"] for job in jobs]
    assert jids == ["3", "2", sidekiq_jid(sidekiq), "1", "0", "4"]  # in-progress runs next
    assert all(isinstance(job["args"], list) for job in jobs)
    assert r.lrange(K.queue("default"), 0, -1)[2] == sidekiq  # untouched bytes
    assert json.loads(as_bytes(r.lindex(K.quarantine(K.queue("default")), 0)))["raw"] == "{bad"
    ((member, score),) = zscored(r, K.retry)
    assert score == 1700000100 and json.loads(member)["retry_count"] == 1
    assert r.smembers(K.queues) == {b"default"}
    again = migrate("verk-to-sidekiq", r)
    assert again.total("moved") == 0 and again.total("unchanged") == 7 and again.ok


def sidekiq_jid(raw: bytes) -> str:
    return str(json.loads(raw)["jid"])


def test_cli_dry_run_and_json(r: redis.Redis, redis_url: str) -> None:
    resque_jobs(r, "default", 3)
    runner = CliRunner()
    base = ["migrate", "resque-to-sidekiq", "--from-url", redis_url]
    dry = runner.invoke(main, [*base, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output and "sample:" in dry.output
    assert "check: before 3 = moved 3 + quarantined 0 + unchanged 0 + left 0  OK" in dry.output
    assert r.llen(K.queue("default")) == 0
    done = runner.invoke(main, [*base, "--json", "--queue", "default"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["ok"] and data["totals"]["moved"] == 3 and r.llen(K.queue("default")) == 3


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
@pytest.mark.parametrize(
    "mode", ["resque-to-sidekiq", "verk-to-sidekiq", "sidekiq-to-resque"], ids=str
)
def test_a_deeply_nested_element_is_quarantined_and_the_run_goes_on(
    r: redis.Redis, mode: str, dry_run: bool
) -> None:
    # Issue 16: every migration run (even --dry-run) stopped at a member nested ~1,000 levels.
    bad = [deep_args(), deep_object(), nested()]
    source = RK.queue("default") if mode == "resque-to-sidekiq" else K.queue("default")
    good = [b'{"class":"W","args":[%d],"queue":"default"}' % i for i in range(3)]
    r.rpush(source, good[0], *bad, good[1], good[2])
    if mode != "resque-to-sidekiq":
        r.zadd(K.retry, {deep_args(): 1.0, Job.new("W", [9]).encode(): 2.0})
    result = migrate(mode, r, dry_run=dry_run)  # type: ignore[arg-type]
    assert result.total("quarantined") == 3 + (mode == "verk-to-sidekiq")  # s-to-r skips retry
    assert result.total("moved") + result.total("unchanged") >= 3
    if not dry_run:
        quarantined = r.lrange(K.quarantine(source), 0, -1)
        assert sorted(json.loads(q)["raw"].encode() for q in quarantined) == sorted(bad)
        assert any("nested too deep" in json.loads(q)["reason"] for q in quarantined)
