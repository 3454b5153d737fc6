"""``verk-compat stats|queues|retries|dead|scheduled|processes`` against a real Redis."""

from __future__ import annotations

import json
import random
import time
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from tests.support.replies import hset_fields
from verk_compat.cli import main
from verk_compat.client.client import Client
from verk_compat.codec.job import Job, now
from verk_compat.devtools.redis_server import free_port
from verk_compat.keys import Keys
from verk_compat.worker.process_info import heartbeat_fields
from verk_compat.worker.retry import Retry, next_attempt

K = Keys()


def run(*args: str, url: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, [*args, "--redis-url", url])
    assert result.exit_code == code, result.output
    return result.output


def run_json(*args: str, url: str) -> Any:
    return json.loads(run(*args, "--json", url=url))


def add_retry(r: redis.Redis, class_name: str = "HardWorker", keys: Keys = K) -> str:
    job = Job.new(class_name, [1], queue="critical")
    decision = next_attempt(job, KeyError("k"), queue="critical", now=now(), rng=random.Random())
    assert isinstance(decision, Retry)
    r.zadd(keys.retry, {decision.payload.encode(): decision.at})
    return str(job.jid)


def add_dead(r: redis.Redis) -> str:
    job = Job.new("Gone", [2]).replace(retry_count=25, error_class="E", error_message="x\ny")
    r.zadd(K.dead, {job.encode(): now()})
    return str(job.jid)


def test_stats(redis_url: str, r: redis.Redis) -> None:
    r.set(K.stat_processed, 12)
    add_retry(r)
    out = run("stats", "--days", "2", url=redis_url)
    assert "processed" in out and "12" in out and "retry_size" in out and "date" in out
    data = run_json("stats", url=redis_url)
    assert data["processed"] == 12 and data["retry_size"] == 1 and len(data["history"]) == 7


def test_queues(redis_url: str) -> None:
    with Client(redis_url) as client:
        client.enqueue("W", [], queue="mailers")
        client.enqueue("W", [])
        client.enqueue("W", [])
    out = run("queues", url=redis_url)
    lines = out.splitlines()
    assert lines[0].split() == ["queue", "size", "latency"]
    assert lines[1].split()[:2] == ["default", "2"] and lines[2].split()[:2] == ["mailers", "1"]
    data = run_json("queues", url=redis_url)
    assert [(q["name"], q["size"]) for q in data] == [("default", 2), ("mailers", 1)]


def test_retries_list_retry_delete_kill(redis_url: str, r: redis.Redis) -> None:
    jids = [add_retry(r) for _ in range(4)]
    out = run("retries", "list", url=redis_url)
    assert "KeyError: 'k'" in out and jids[0] in out and "(4 of 4 in retry)" in out
    data = run_json("retries", "list", "--limit", "2", url=redis_url)
    assert data["size"] == 4 and len(data["entries"]) == 2
    assert data["entries"][0]["retry_count"] == 0 and data["entries"][0]["queue"] == "critical"
    assert run("retries", "retry", jids[0], url=redis_url) == "retried 1 job(s) from retry\n"
    assert Job.decode(r.lindex(K.queue("critical"), 0) or b"").retry_count == -1
    assert run_json("retries", "delete", jids[1], url=redis_url)["count"] == 1
    assert run_json("retries", "kill", jids[2], url=redis_url)["count"] == 1
    assert r.zcard(K.dead) == 1
    out = run("retries", "retry", jids[0], url=redis_url, code=1)
    assert f"no job with jid {jids[0]} in retry" in out
    assert run_json("retries", "kill", "--all", url=redis_url)["count"] == 1
    assert r.zcard(K.retry) == 0 and r.zcard(K.dead) == 2


def test_retries_all_and_usage(redis_url: str, r: redis.Redis) -> None:
    for _ in range(3):
        add_retry(r)
    assert "give one JID or --all" in run("retries", "retry", url=redis_url, code=2)
    assert "give one JID or --all" in run("retries", "retry", "x", "--all", url=redis_url, code=2)
    assert run("retries", "retry", "--all", url=redis_url) == "retried 3 job(s) from retry\n"
    assert r.llen(K.queue("critical")) == 3


def test_dead_commands(redis_url: str, r: redis.Redis) -> None:
    jids = [add_dead(r) for _ in range(3)]
    out = run("dead", "list", url=redis_url)
    assert "died at" in out and "E: x y" in out and "(3 of 3 in dead)" in out
    assert run_json("dead", "retry", jids[0], url=redis_url)["count"] == 1
    assert Job.decode(r.lindex(K.queue("default"), 0) or b"").retry_count == 24
    assert run("dead", "delete", jids[1], url=redis_url) == "deleted 1 job(s) from dead\n"
    assert run_json("dead", "clear", url=redis_url) == {
        "set": "dead",
        "action": "clear",
        "count": 1,
    }
    assert run("dead", "clear", url=redis_url) == "cleared 0 job(s) from dead\n"


def test_scheduled_commands(redis_url: str, r: redis.Redis) -> None:
    with Client(redis_url) as client:
        jids = [client.enqueue_in(600, "Later", [i]) for i in range(3)]
    data = run_json("scheduled", "list", url=redis_url)
    assert sorted(e["jid"] for e in data["entries"]) == sorted(jids)
    assert "run at" in run("scheduled", "list", url=redis_url)
    assert (
        run("scheduled", "enqueue", jids[0], url=redis_url) == "enqueued 1 job(s) from schedule\n"
    )
    assert json.loads(r.lindex(K.queue("default"), 0) or b"")["jid"] == jids[0]
    assert run_json("scheduled", "delete", jids[1], url=redis_url)["count"] == 1
    assert run_json("scheduled", "enqueue", "--all", url=redis_url)["count"] == 1
    assert r.zcard(K.schedule) == 0 and r.llen(K.queue("default")) == 2


def test_invalid_member_is_listed_and_refused(redis_url: str, r: redis.Redis) -> None:
    r.zadd(K.retry, {b'{"jid":"bad1"}': 1.0})
    assert "(invalid payload)" in run("retries", "list", url=redis_url)
    assert run_json("retries", "retry", "--all", url=redis_url)["count"] == 0
    assert run_json("retries", "kill", "--all", url=redis_url)["count"] == 1


def beat(r: redis.Redis, identity: str, quiet: bool) -> None:
    info = json.dumps({"identity": identity, "queues": ["default", "low"], "concurrency": 5})
    fields = heartbeat_fields(
        info.encode(), busy=1, quiet=quiet, beat=time.time() - 3, rss=1, rtt_us=1, concurrency=5
    )
    r.sadd(K.processes, identity)
    hset_fields(r, K.process(identity), fields)


def test_processes_list_quiet_stop(redis_url: str, r: redis.Redis) -> None:
    beat(r, "host:1:abc", quiet=False)
    beat(r, "host:2:def", quiet=True)
    out = run("processes", url=redis_url)
    header, first, second, footer = out.splitlines()
    assert header.split() == ["identity", "queues", "busy", "threads", "beat", "quiet"]
    assert first.split()[:4] == ["host:1:abc", "default,low", "1", "5"]
    assert first.split()[-1] == "no" and second.split()[-1] == "yes" and footer == "(2 live)"
    data = run_json("processes", url=redis_url)
    assert [p["identity"] for p in data] == ["host:1:abc", "host:2:def"]
    assert 2 < data[0]["beat_age"] < 10 and data[1]["quiet"] is True
    assert run("processes", "quiet", "host:1:abc", url=redis_url) == "quieted host:1:abc (TSTP)\n"
    assert run_json("processes", "stop", "host:1:abc", url=redis_url)["signal"] == "TERM"
    assert r.lrange(K.signals("host:1:abc"), 0, -1) == [b"TERM", b"TSTP"]
    assert "no live process" in run("processes", "stop", "nope:1:x", url=redis_url, code=1)


def test_group_options_reach_signal_subcommands(redis_url: str, r: redis.Redis) -> None:
    beat(r, "host:1:abc", quiet=False)
    args = ["processes", "--redis-url", redis_url, "--json", "quiet", "host:1:abc"]
    result = CliRunner().invoke(main, args, env={"REDIS_URL": ""})
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"identity": "host:1:abc", "signal": "TSTP"}


def test_namespace_option(redis_url: str, r: redis.Redis) -> None:
    add_retry(r, keys=Keys("ns"))
    assert run_json("retries", "list", "--namespace", "ns", url=redis_url)["size"] == 1
    assert run_json("retries", "list", url=redis_url)["size"] == 0


@pytest.mark.parametrize(
    "args",
    [["stats"], ["queues"], ["retries", "list"], ["dead", "clear"], ["processes"]],
    ids=lambda a: "-".join(a),
)
def test_unreachable_redis_exits_2(args: list[str]) -> None:
    port = free_port()
    result = CliRunner().invoke(main, [*args, "--redis-url", f"redis://127.0.0.1:{port}/0"])
    assert result.exit_code == 2, result.output
    assert f"Redis at 127.0.0.1:{port} is unreachable" in result.output
