"""After a Resque -> Sidekiq migration, real Ruby Sidekiq 6.4.1 runs and reads what moved."""

from __future__ import annotations

import pytest
import redis

from tests.support.migrate import failure, resque_jobs
from tests.support.ruby import SidekiqProcess, ruby_json
from verk_compat.keys import ResqueKeys
from verk_compat.migrate import migrate

pytestmark = pytest.mark.interop

RK = ResqueKeys()


def test_ruby_sidekiq_runs_migrated_resque_jobs_in_order(r: redis.Redis, redis_url: str) -> None:
    resque_jobs(r, "default", 15)
    assert migrate("resque-to-sidekiq", r).ok
    with SidekiqProcess(redis_url, concurrency=1) as ruby:
        lines = ruby.wait_for(15, timeout=60)
    assert [line["args"] for line in lines] == [[i, f"j{i}"] for i in range(15)]
    assert all(line["queue"] == "default" and len(line["jid"]) == 24 for line in lines)


def test_ruby_sidekiq_reads_migrated_resque_failures(r: redis.Redis, redis_url: str) -> None:
    r.rpush(RK.failed, failure())
    assert migrate("resque-to-sidekiq", r).ok
    (entry,) = ruby_json(
        """
        puts JSON.generate(Sidekiq::DeadSet.new.map { |e|
          [e.klass, e.args, e["error_class"], e["error_message"], e.error_backtrace,
           e.at.to_f, e.queue] })
        """,
        redis_url,
    )
    assert entry == [
        "BadJob", [7, "x"], "RuntimeError", "boom",
        ["app/jobs/bad.rb:3:in `perform'", "lib/resque/job.rb:1"], 1704164645.0, "critical",
    ]  # fmt: skip


def test_jobs_pushed_by_ruby_sidekiq_move_to_resque_in_order(
    r: redis.Redis, redis_url: str
) -> None:
    ruby_json(
        """
        5.times { |i| Sidekiq::Client.push("class" => "HardWorker", "args" => [i, {"k" => 1.5}],
                                           "queue" => "mail", "tags" => ["t"]) }
        puts "[]"
        """,
        redis_url,
    )
    assert migrate("sidekiq-to-resque", r).ok
    expected = [b'{"class":"HardWorker","args":[%d,{"k":1.5}]}' % i for i in range(5)]
    assert r.lrange(RK.queue("mail"), 0, -1) == expected
    assert r.smembers(RK.queues) == {b"mail"}
