"""The admin API on data real Ruby Sidekiq 6.4.1 wrote, and Ruby's API on what Python did.

Ruby writes with its own code paths: ``perform_async``/``perform_in`` (client),
``Sidekiq::JobRetry#local`` (the server's failure path: ZADD ``retry``, or ``dead`` when
exhausted) and ``Launcher#❤`` (a heartbeat). Python reads and acts; then ``Sidekiq::Stats``,
``RetrySet``, ``DeadSet``, ``ScheduledSet`` and ``Queue`` must agree.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from tests.support.ruby import ruby_json
from verk_compat.api import DeadSet, ProcessSet, Queue, RetrySet, ScheduledSet, Stats
from verk_compat.keys import Keys

pytestmark = pytest.mark.interop

K = Keys()

SETUP = """
require "sidekiq/job_retry"
require "sidekiq/launcher"
Sidekiq.configure_server { |c| c.redis = { url: ENV.fetch("REDIS_URL") } }
class HardWorker; include Sidekiq::Worker; def perform(*a); end; end
def fail_once(jobstr, queue)
  Sidekiq::JobRetry.new.local(HardWorker.new, jobstr, queue) { raise "boom #{queue}" }
rescue Sidekiq::JobRetry::Handled
end
"""

WRITE = """
out = {}
out["queued"] = [HardWorker.perform_async(1, "a"), HardWorker.perform_async(2, "b")]
out["mailer"] = HardWorker.set(queue: "mailers").perform_async(3)
out["later"] = HardWorker.perform_in(3600, 4)
out["retry"] = [1, 2].map { |i|
  jid = HardWorker.set(queue: "critical").perform_async(i)
  jobstr = Sidekiq.redis { |c| c.rpop("queue:critical") }
  fail_once(jobstr, "critical")
  jid
}
dead_jid = HardWorker.set(retry: 0).perform_async(9)
fail_once(Sidekiq.redis { |c| c.lpop("queue:default") }, "default")
out["dead"] = dead_jid
launcher = Sidekiq::Launcher.new(Sidekiq.options.merge(queues: ["default", "low"], concurrency: 3))
launcher.send(:❤)
out["identity"] = Sidekiq::ProcessSet.new.first.identity
puts out.to_json
"""

READ = """
s = Sidekiq::Stats.new
sets = { "retry" => Sidekiq::RetrySet.new, "dead" => Sidekiq::DeadSet.new,
         "schedule" => Sidekiq::ScheduledSet.new }
out = { "stats" => { "processed" => s.processed, "failed" => s.failed,
                     "scheduled_size" => s.scheduled_size, "retry_size" => s.retry_size,
                     "dead_size" => s.dead_size, "enqueued" => s.enqueued,
                     "processes_size" => s.processes_size, "workers_size" => s.workers_size } }
sets.each { |name, set| out[name] = set.map(&:jid).sort }
out["queues"] = Sidekiq::Queue.all.to_h { |q| [q.name, q.map(&:jid).sort] }
out["critical"] = Sidekiq::Queue.new("critical").map(&:item)
puts out.to_json
"""


def read_ruby(redis_url: str) -> Any:
    return ruby_json(SETUP + READ, redis_url)


def test_python_reads_what_ruby_wrote(redis_url: str, r: redis.Redis) -> None:
    wrote = ruby_json(SETUP + WRITE, redis_url)
    ruby = read_ruby(redis_url)
    stats = Stats(r)
    assert stats.summary() | {"default_queue_latency": 0} == ruby["stats"] | {
        "default_queue_latency": 0
    }
    assert [q.name for q in Queue.all(r)] == sorted(ruby["queues"])
    default = Queue(r)
    assert [rec.jid for rec in default] == wrote["queued"][::-1]
    assert default.find_job(wrote["queued"][0]) is not None and 0 <= default.latency() < 30
    entries = list(RetrySet(r))
    assert sorted(e.jid or "" for e in entries) == sorted(wrote["retry"]) == ruby["retry"]
    job = entries[0].job
    assert job is not None and job.retry_count == 0 and job.error_class == "RuntimeError"
    assert job.error_message == "boom critical" and job.queue == "critical"
    (dead,) = list(DeadSet(r))
    assert dead.jid == wrote["dead"] and dead.job is not None and dead.job.error_class
    (later,) = list(ScheduledSet(r))
    assert later.jid == wrote["later"] and later.job is not None and later.job.args == [4]
    (process,) = list(ProcessSet(r))
    assert process.identity == wrote["identity"] and process.queues == ["default", "low"]
    assert process.concurrency == 3 and not process.quiet


def test_ruby_agrees_after_python_actions(redis_url: str, r: redis.Redis) -> None:
    wrote = ruby_json(SETUP + WRITE, redis_url)
    retries, dead, scheduled = RetrySet(r), DeadSet(r), ScheduledSet(r)
    first, second = wrote["retry"]
    entry = retries.find_job(first)
    assert entry is not None and retries.retry(entry)
    killed = retries.find_job(second)
    assert killed is not None and retries.kill(killed)
    later = scheduled.find_job(wrote["later"])
    assert later is not None and scheduled.kill(later)
    corpse = dead.find_job(wrote["dead"])
    assert corpse is not None and dead.delete(corpse)
    queued = Queue(r).find_job(wrote["queued"][0])
    assert queued is not None and Queue(r).delete(queued)

    ruby = read_ruby(redis_url)
    assert ruby["retry"] == [] and ruby["schedule"] == []
    assert ruby["dead"] == sorted([second, wrote["later"]])
    assert ruby["queues"]["critical"] == [first]
    assert ruby["queues"]["default"] == [wrote["queued"][1]]
    assert ruby["stats"]["retry_size"] == 0 and ruby["stats"]["dead_size"] == 2
    assert ruby["stats"]["enqueued"] == 3 and Stats(r).enqueued == 3
    (item,) = ruby["critical"]
    assert item["retry_count"] == -1 and item["error_message"] == "boom critical"
    assert item["enqueued_at"] > item["failed_at"]


def test_python_retry_now_matches_rubys(redis_url: str, r: redis.Redis) -> None:
    """Python's "retry now" pushes what Ruby's ``SortedEntry#retry`` pushes (but jid/times)."""
    setup = """
jids = [1, 2].map {
  jid = HardWorker.set(queue: "critical").perform_async(5, {"k" => 1.5})
  fail_once(Sidekiq.redis { |c| c.rpop("queue:critical") }, "critical")
  jid
}
puts jids.to_json
"""
    ruby_jid, python_jid = ruby_json(SETUP + setup, redis_url)
    entry = RetrySet(r).find_job(python_jid)
    assert entry is not None and RetrySet(r).retry(entry)
    retry_in_ruby = f'Sidekiq::RetrySet.new.find_job("{ruby_jid}").retry\nputs 1.to_json'
    ruby_json(SETUP + retry_in_ruby, redis_url)
    pushed = [json.loads(p) for p in r.lrange(K.queue("critical"), 0, -1)]
    by_jid = {p["jid"]: p for p in pushed}
    ruby, python = by_jid[ruby_jid], by_jid[python_jid]
    assert list(ruby) == list(python)  # same keys, same order
    moving = {"jid", "created_at", "enqueued_at", "failed_at"}
    assert {k: v for k, v in ruby.items() if k not in moving} == {
        k: v for k, v in python.items() if k not in moving
    }
    assert python["retry_count"] == -1 and python["args"] == [5, {"k": 1.5}]
    assert RetrySet(r).size() == 0
