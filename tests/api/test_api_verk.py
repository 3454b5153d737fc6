"""The admin API and CLI on a Redis holding real Verk 1.7.3 state (fixtures/verk-1.7.3/)."""

from __future__ import annotations

import json
import time

import redis
from click.testing import CliRunner

from tests.support.verk_dump import load, members
from verk_compat.api import DeadSet, ProcessSet, Queue, RetrySet, ScheduledSet, Stats
from verk_compat.cli import main
from verk_compat.codec.verk import VERK_KEYS, VerkJob
from verk_compat.keys import Keys

K = Keys()


def test_sets_and_queues_list_verk_jobs(r: redis.Redis) -> None:
    data = load(r, "03-after-run.json")
    for jobs, key in ((RetrySet(r), "retry"), (DeadSet(r), "dead"), (ScheduledSet(r), "schedule")):
        entries = list(jobs)
        assert sorted(e.raw for e in entries) == sorted(members(data, key))
        for entry in entries:
            assert entry.job is not None
            verk = VerkJob.decode(entry.raw)
            assert (entry.jid, entry.job.args, entry.class_name) == (
                verk.jid,
                verk.args,
                verk.class_name,
            )
    [record] = list(Queue(r, "other"))
    assert record.job is not None and record.job.args == [5, 6]


def test_find_retry_and_kill_verk_jobs_by_jid(r: redis.Redis) -> None:
    data = load(r, "03-after-run.json")
    first, second = (VerkJob.decode(m) for m in members(data, "retry"))
    retries = RetrySet(r)
    entry = retries.find_job(str(first.jid))
    assert entry is not None and entry.raw == first.raw
    assert retries.retry(entry)
    [pushed] = r.lrange(K.queue("default"), 0, -1)
    assert list(json.loads(pushed)) == list(VERK_KEYS)  # still Verk's format: a Verk node runs it
    back = VerkJob.decode(pushed)
    assert (back.args, back.retry_count, back.jid) == (first.args, first.retry_count, first.jid)
    assert isinstance(back.enqueued_at, int)
    other = retries.find_job(str(second.jid))
    assert other is not None and retries.kill(other)
    assert r.zscore(K.dead, second.raw or b"") is not None  # the exact bytes


def test_cli_retries_reach_verk_jobs(r: redis.Redis, redis_url: str) -> None:
    data = load(r, "03-after-run.json")
    listed = CliRunner().invoke(main, ["retries", "list", "--json", "--redis-url", redis_url])
    assert listed.exit_code == 0, listed.output
    jids = {entry["jid"] for entry in json.loads(listed.output)["entries"]}
    assert jids == {VerkJob.decode(m).jid for m in members(data, "retry")}
    jid = sorted(j for j in jids if j)[0]
    done = CliRunner().invoke(main, ["retries", "retry", jid, "--redis-url", redis_url])
    assert done.exit_code == 0, done.output
    assert VerkJob.decode(r.lindex(K.queue("default"), 0) or b"").jid == jid


def test_verk_nodes_show_in_processes(r: redis.Redis, redis_url: str) -> None:
    load(r, "02-processing.json")
    [node] = list(ProcessSet(r))
    assert node.kind == "verk" and node.identity == "37408014322574381747"
    assert node.queues == ["default"] and node.busy == 1
    r.pexpire(K.verk_node(node.identity), 30_000)
    [later] = list(ProcessSet(r))
    assert 25 <= later.summary(time.time())["beat_age"] <= 35
    out = CliRunner().invoke(main, ["processes", "--redis-url", redis_url])
    assert "37408014322574381747 (verk node)" in out.output
    quiet = CliRunner().invoke(
        main, ["processes", "quiet", node.identity, "--redis-url", redis_url]
    )
    assert quiet.exit_code != 0 and "Verk node" in quiet.output
    assert not r.keys("*-signals")
    r.delete(K.verk_node(node.identity))  # expired: the node is gone
    assert list(ProcessSet(r)) == []


def test_verk_queues_are_listed_without_a_queues_set(r: redis.Redis, redis_url: str) -> None:
    load(r, "01-enqueued.json")
    assert not r.exists(K.queues)
    assert [q.name for q in Queue.all(r)] == ["default", "other"]
    assert Stats(r).queues == {"default": 10, "other": 1}
    out = CliRunner().invoke(main, ["queues", "--json", "--redis-url", redis_url])
    assert out.exit_code == 0, out.output
    assert "other" in out.output
