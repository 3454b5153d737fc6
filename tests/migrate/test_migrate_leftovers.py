"""Every migration lists the source keys it left: with a reason when deliberate, else as
unhandled (the CLI then exits 1 unless --skip-unhandled)."""

from __future__ import annotations

import redis
from click.testing import CliRunner

from verk_compat.cli import main
from verk_compat.codec.job import Job
from verk_compat.devtools.redis_server import EmbeddedRedis
from verk_compat.keys import Keys
from verk_compat.migrate import migrate

K = Keys()


def test_namespace_mode_reasons_and_unhandled(r: redis.Redis) -> None:
    ns = Keys("myapp")
    r.lpush(ns.queue("default"), Job.new("W", [1]).encode())
    r.lpush(ns.queue("low"), Job.new("W", [2]).encode())
    r.sadd(ns.processes, "host:1:abcabcabcabc")
    r.hset(ns.process("host:1:abcabcabcabc"), "info", "{}")
    r.hset(ns.workers("host:1:abcabcabcabc"), "t", "{}")
    r.hset(ns.cron_job("nightly"), "name", "nightly")  # sidekiq-cron: no plan moves it
    result = migrate("namespace", r, namespace="myapp", queues=["default"])
    assert result.ok
    assert result.unhandled == ["myapp:cron_job:nightly"]
    assert result.reasons == {
        "myapp:processes": "process registry (ephemeral)",
        "myapp:host:1:abcabcabcabc": "a process's heartbeat keys (ephemeral)",
        "myapp:host:1:abcabcabcabc:workers": "a process's heartbeat keys (ephemeral)",
        "myapp:queue:low": "not selected (--queue)",
    }


def test_plain_source_other_applications_keys_are_not_failures(r: redis.Redis) -> None:
    r.lpush(K.queue("default"), Job.new("W", [1]).encode())
    r.set("session:42", "x")
    result = migrate("namespace", r, to_namespace="ns")
    assert result.unhandled == [] and "session:42" in result.reasons


def test_sidekiq_to_resque_retry_set_is_unhandled(r: redis.Redis, redis_url: str) -> None:
    r.lpush(K.queue("q"), Job.new("W", [1], queue="q").encode())
    r.zadd(K.retry, {Job.new("W").encode(): 1.0})
    runner = CliRunner()
    args = ["migrate", "sidekiq-to-resque", "--from-url", redis_url]
    result = runner.invoke(main, args, env={"REDIS_URL": ""})
    assert result.exit_code == 1
    assert "NOT HANDLED (1 key(s) of the source not migrated):\n    retry" in result.output
    result = runner.invoke(main, [*args, "--skip-unhandled"], env={"REDIS_URL": ""})
    assert result.exit_code == 0, result.output


def test_verk_modes_list_what_they_leave(r: redis.Redis) -> None:
    r.lpush(K.queue("default"), b'{"class":"V","args":"[1]","queue":"default","max_retry_count":3}')
    r.sadd(K.verk_nodes, "node1")
    r.set(K.verk_node("node1"), "alive")
    r.set(K.stat_processed, 3)
    r.hset(K.cron_job("nightly"), "name", "nightly")
    r.zadd(K.quarantine("retry"), {b"x": 1.0})
    result = migrate("verk-to-sidekiq", r)
    assert result.ok and result.unhandled == ["cron_job:nightly"]
    assert set(result.reasons) == {
        "verk_nodes", "verk:node:node1", "stat:processed", "verk:quarantine:retry",
    }  # fmt: skip
    back = migrate("sidekiq-to-verk", r, queues=["default"])
    assert "schedule" not in back.skipped  # absent keys are not listed
    assert back.unhandled == ["cron_job:nightly"]


def test_copy_lists_unhandled_keys_and_fails_unless_told(r: redis.Redis, redis_url: str) -> None:
    r.lpush(K.queue("default"), Job.new("W", [1]).encode())
    r.hset(K.cron_job("nightly"), "name", "nightly")
    with EmbeddedRedis() as other:
        args = ["migrate", "copy", "--from-url", redis_url, "--to-url", other.url]
        run = CliRunner().invoke(main, [*args, "--dry-run"], env={"REDIS_URL": ""})
        assert run.exit_code == 1
        assert (
            "NOT HANDLED (1 key(s) of the source not migrated):\n    cron_job:nightly" in run.output
        )
        again = CliRunner().invoke(
            main, [*args, "--skip-unhandled", "--json"], env={"REDIS_URL": ""}
        )
        assert again.exit_code == 0, again.output
        assert '"unhandled": ["cron_job:nightly"]' in again.output
