"""Periodic jobs against real Ruby sidekiq-cron 1.8 (Debian ruby-sidekiq-cron) and Sidekiq 6.4.1.

Both ways: an entry Ruby creates is enqueued by the Python poller and run by real Sidekiq; an
entry Python saves is the one Ruby's ``Sidekiq::Cron::Job.all`` lists, field for field. And
once per tick across languages: whichever side claims a tick first, the other one does not push.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import pytest
import redis
import redis.asyncio

from tests.support.replies import zmembers
from tests.support.ruby import RUBY_DIR, SidekiqProcess, ruby_eval, ruby_json
from verk_compat.codec.cron_entry import CronEntry
from verk_compat.codec.job import Job, now
from verk_compat.keys import Keys
from verk_compat.worker.app import App
from verk_compat.worker.cron import CronPoller, CronStore
from verk_compat.worker.launcher import Worker

pytestmark = pytest.mark.interop

K = Keys()
CRON = 'require "sidekiq-cron"\n'


def minute_ahead(minutes: int = 3) -> float:
    return math.floor(now() / 60) * 60 + 60 * minutes + 5.0


async def test_ruby_entry_enqueued_by_python_and_run_by_sidekiq(
    ar: redis.asyncio.Redis, redis_url: str
) -> None:
    ruby_eval(
        CRON + 'Sidekiq::Cron::Job.create(name: "r", cron: "* * * * *", class: "InteropWorker",'
        ' args: [1, "two"], queue: "default") or raise "invalid"',
        redis_url,
    )
    store = CronStore(ar, K)
    assert await CronPoller(store).poll(minute_ahead()) == 1
    jid = (await store.history("r"))[0]["jid"]
    seen = ruby_json(
        CRON + 'j = Sidekiq::Cron::Job.find("r"); '
        'puts JSON.generate([j.last_enqueue_time.to_i, j.jid_history_from_redis.first["jid"]])',
        redis_url,
    )
    assert seen[1] == jid and seen[0] > 0
    with SidekiqProcess(redis_url) as sidekiq:
        lines = sidekiq.wait_for(1)
    assert lines[0]["args"] == [1, "two"] and lines[0]["jid"] == jid


async def test_python_entry_listed_by_ruby_as_its_twin(
    ar: redis.asyncio.Redis, r: redis.Redis, redis_url: str
) -> None:
    entry = CronEntry.define(
        "py", "*/5 * * * *", "HardWorker", [1, "x"], queue="crit", description="d"
    )
    await CronStore(ar, K).save(entry)
    ruby_eval(
        CRON + 'Sidekiq::Cron::Job.create(name: "twin", cron: "*/5 * * * *", class: "HardWorker",'
        ' args: [1, "x"], queue: "crit", description: "d") or raise "invalid"',
        redis_url,
    )
    ours, twin = r.hgetall("cron_job:py"), r.hgetall("cron_job:twin")
    assert list(ours) == list(twin)
    assert {**ours, b"name": b"twin"} == twin
    listed = ruby_json(
        CRON + "puts JSON.generate(Sidekiq::Cron::Job.all.map { |j| "
        "[j.name, j.valid?, j.klass, j.cron, j.args, j.status, j.description,"
        ' Sidekiq.load_json(j.message)["queue"]] }.sort)',
        redis_url,
    )
    assert listed == [
        ["py", True, "HardWorker", "*/5 * * * *", [1, "x"], "enabled", "d", "crit"],
        ["twin", True, "HardWorker", "*/5 * * * *", [1, "x"], "enabled", "d", "crit"],
    ]


async def test_one_enqueue_per_tick_whichever_side_claims_it(
    ar: redis.asyncio.Redis, r: redis.Redis, redis_url: str
) -> None:
    entry = CronEntry.define("both", "* * * * *", "HardWorker", [5])
    store = CronStore(ar, K)
    await store.save(entry)
    stamp = minute_ahead()
    tick = math.floor(stamp / 60) * 60
    # Ruby claims the tick first: the Python script's ZADD finds it taken.
    ruby_eval(
        CRON + f'Sidekiq::Cron::Job.find("both").test_and_enque_for_time!(Time.at({stamp}).utc)',
        redis_url,
    )
    assert r.llen("queue:default") == 1
    assert await store.enqueue_tick(entry, tick, stamp) is None
    assert await CronPoller(store).poll(stamp) == 0
    # Python claims the next tick first: Ruby, even with a stale view, finds it taken.
    assert await CronPoller(store).poll(stamp + 60) == 1
    ruby_eval(
        CRON + 'j = Sidekiq::Cron::Job.find("both"); j.instance_variable_set(:@last_enqueue_time,'
        f" nil); j.test_and_enque_for_time!(Time.at({stamp + 60}).utc)",
        redis_url,
    )
    assert r.llen("queue:default") == 2
    ticks = [m.decode() for m in zmembers(r, "cron_job:both:enqueued")]
    assert ticks[-2:] == [
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)) for t in (tick, tick + 60)
    ]


_RUBY_RACE = (
    CRON
    + """
jobs = Sidekiq::Cron::Job.all
sleep 0.001 while Time.now.to_f < ENV.fetch("START").to_f
jobs.each { |j| j.test_and_enque_for_time!(Time.at(ENV.fetch("STAMP").to_f).utc) }
"""
)


async def test_race_of_ruby_and_python_pollers(redis_url: str, r: redis.Redis) -> None:
    count = 20
    clients = [redis.asyncio.Redis.from_url(redis_url) for _ in range(3)]
    try:
        stores = [CronStore(c, K) for c in clients]
        await stores[0].save_all(
            CronEntry.define(f"e{i}", "* * * * *", "HardWorker", [i]) for i in range(count)
        )
        stamp, start = minute_ahead(), time.time() + 3.0
        env: dict[str, Any] = {"START": str(start), "STAMP": str(stamp)}
        rubies = [asyncio.to_thread(ruby_eval, _RUBY_RACE, redis_url, **env) for _ in range(2)]

        async def python_poll(store: CronStore) -> int:
            await asyncio.sleep(max(0.0, start - time.time()))
            return await CronPoller(store).poll(stamp)

        results = await asyncio.gather(*rubies, *(python_poll(s) for s in stores))
    finally:
        for c in clients:
            await c.aclose()
    args = sorted(Job.decode(p).args[0] for p in r.lrange("queue:default", 0, -1))
    assert args == list(range(count)), results


@pytest.mark.slow
async def test_running_ruby_and_python_processes_enqueue_each_tick_once(
    redis_url: str, r: redis.Redis
) -> None:
    """A real Sidekiq process with sidekiq-cron's poller and a Python worker poll one entry
    that ticks every second; until each side has pushed some, every claimed tick is one job."""
    app = App()
    app.cron("every_second", "* * * * * *", "HardWorker", args=[1], queue="cronq")
    worker = Worker(app, {"default": 1}, redis_url=redis_url, cron_interval=2.0)
    task = asyncio.create_task(worker.run())
    try:
        with SidekiqProcess(redis_url, require=RUBY_DIR / "cron_poller.rb") as sidekiq:
            async with asyncio.timeout(60):
                while not (0 < worker.cron.pushed < r.llen("queue:cronq") - 1):
                    await asyncio.sleep(0.2)
            sidekiq.stop()
    finally:
        worker.stop()
        await task
        await worker.aclose()
    jobs = r.llen("queue:cronq")
    claimed = r.zcard("cron_job:every_second:enqueued") - 1  # less the tick marked by save
    assert jobs == claimed and jobs > worker.cron.pushed > 0
