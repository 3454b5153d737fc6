"""The cron store and poller against a real Redis: layout, once per tick, enable/disable,
run-now, bad entries, schedule files, and the poller inside a running worker."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio

from verk_compat.codec.cron_entry import CronEntry, CronEntryError, tick_member
from verk_compat.codec.job import Job, now
from verk_compat.keys import Keys
from verk_compat.worker.app import App
from verk_compat.worker.cron import CronPoller, CronStore, load_schedule
from verk_compat.worker.launcher import Worker

K = Keys()
CRON_FIELDS = (
    "name",
    "klass",
    "cron",
    "description",
    "args",
    "date_as_argument",
    "message",
    "status",
    "active_job",
    "queue_name_prefix",
    "queue_name_delimiter",
    "last_enqueue_time",
    "symbolize_args",
)


def minute_ahead(minutes: int = 3) -> float:
    """A poll time a few minutes ahead, 5 s after a whole minute (its tick not yet claimed)."""
    return math.floor(now() / 60) * 60 + 60 * minutes + 5.0


async def saved(ar: redis.asyncio.Redis, *entries: CronEntry) -> CronStore:
    store = CronStore(ar, K)
    await store.save_all(entries)
    return store


async def test_save_writes_sidekiq_cron_layout(ar: redis.asyncio.Redis, r: redis.Redis) -> None:
    entry = CronEntry.define("report", "*/5 * * * *", "HardWorker", [1, "x"], queue="crit", retry=3)
    await saved(ar, entry)
    assert r.smembers("cron_jobs") == {b"cron_job:report"}
    fields = r.hgetall("cron_job:report")
    assert list(fields) == [k.encode() for k in CRON_FIELDS]
    assert fields[b"args"] == b'[1,"x"]'
    assert fields[b"message"] == b'{"retry":3,"queue":"crit","class":"HardWorker","args":[1,"x"]}'
    assert fields[b"status"] == b"enabled"
    assert fields[b"date_as_argument"] == b"false"
    assert fields[b"last_enqueue_time"] == b""
    # Saving marks the current tick as done, as sidekiq-cron's save does: no enqueue at once.
    assert r.zcard("cron_job:report:enqueued") == 1


async def test_a_due_tick_is_enqueued_once(ar: redis.asyncio.Redis, r: redis.Redis) -> None:
    store = await saved(ar, CronEntry.define("every", "* * * * *", "HardWorker", [7], queue="q"))
    stamp = minute_ahead()
    poller = CronPoller(store)
    assert await poller.poll(stamp) == 1
    assert await poller.poll(stamp) == 0
    assert await poller.poll(stamp + 20) == 0
    job = Job.decode(r.lindex("queue:q", 0))  # type: ignore[arg-type]
    assert (job.class_name, job.args, job.queue, job.retry) == ("HardWorker", [7], "q", True)
    assert r.smembers("queues") == {b"q"}
    tick = math.floor(stamp / 60) * 60
    assert r.zscore("cron_job:every:enqueued", tick_member(tick)) == tick
    history = await store.history("every")
    assert history[0]["jid"] == job.jid
    assert r.hget("cron_job:every", "last_enqueue_time") == history[0]["enqueued"].encode()
    # The next minute's tick is a new tick.
    assert await poller.poll(stamp + 60) == 1
    assert r.llen("queue:q") == 2


async def test_many_pollers_one_enqueue_per_tick(redis_url: str, r: redis.Redis) -> None:
    clients = [redis.asyncio.Redis.from_url(redis_url) for _ in range(8)]
    try:
        entries = [CronEntry.define(f"e{i}", "* * * * *", "HardWorker", [i]) for i in range(5)]
        await saved(clients[0], *entries)
        stamp = minute_ahead()
        pollers = [CronPoller(CronStore(c, K)) for c in clients]
        counts = await asyncio.gather(*(p.poll(stamp) for p in pollers))
    finally:
        for c in clients:
            await c.aclose()
    assert sum(counts) == 5
    assert sorted(Job.decode(p).args[0] for p in r.lrange("queue:default", 0, -1)) == list(range(5))


async def test_disabled_late_and_refused_entries(ar: redis.asyncio.Redis, r: redis.Redis) -> None:
    store = await saved(
        ar,
        CronEntry.define("off", "* * * * *", "HardWorker"),
        CronEntry.define("hourly", "0 * * * *", "HardWorker"),
    )
    assert await store.set_status("off", "disabled")
    assert not await store.set_status("missing", "disabled")
    # A Ruby-made entry this worker cannot run (natural-language cron) is skipped, unclaimed.
    r.sadd("cron_jobs", "cron_job:nat")
    r.hset("cron_job:nat", mapping={"name": "nat", "klass": "X", "cron": "every 5 minutes"})
    stamp = math.floor(minute_ahead() / 3600) * 3600 + 3600 + 61  # 61 s after an hour
    assert await CronPoller(store).poll(stamp) == 0
    assert r.llen("queue:default") == 0
    assert not r.exists("cron_job:nat:enqueued")
    assert await store.set_status("off", "enabled")
    assert await CronPoller(store).poll(stamp) == 1


async def test_run_now_and_date_as_argument(ar: redis.asyncio.Redis, r: redis.Redis) -> None:
    entry = CronEntry.define("dated", "0 0 1 1 *", "HardWorker", ["a"], date_as_argument=True)
    store = await saved(ar, entry)
    jid = await store.enqueue_now(entry, 1_800_000_000.5)
    job = Job.decode(r.lindex("queue:default", 0))  # type: ignore[arg-type]
    assert job.jid == jid and job.args == ["a", 1_800_000_000.5]
    assert r.hget("cron_job:dated", "last_enqueue_time") == b"2027-01-15 08:00:00 +0000"


async def test_save_keeps_a_stored_status(ar: redis.asyncio.Redis, r: redis.Redis) -> None:
    entry = CronEntry.define("kept", "* * * * *", "HardWorker")
    store = await saved(ar, entry)
    await store.set_status("kept", "disabled")
    await store.save(entry)
    assert r.hget("cron_job:kept", "status") == b"disabled"


def test_define_refuses_bad_input() -> None:
    with pytest.raises(CronEntryError, match=r"'bad'.*invalid cron string"):
        CronEntry.define("bad", "61 * * * *", "HardWorker")
    with pytest.raises(CronEntryError, match="non-empty name"):
        CronEntry.define("", "* * * * *", "HardWorker")
    with pytest.raises(CronEntryError, match="args"):
        CronEntry.define("x", "* * * * *", "HardWorker", [object()])
    with pytest.raises(CronEntryError, match="retry"):
        CronEntry.define("x", "* * * * *", "HardWorker", retry="yes")


def test_schedule_files(tmp_path: Path) -> None:
    yml = tmp_path / "schedule.yml"
    yml.write_text(
        "report:\n  cron: '*/5 * * * *'\n  class: HardWorker\n  args: [1]\n  queue: crit\n"
        "cleanup:\n  cron: '@daily'\n  class: CleanupWorker\n  description: nightly\n"
    )
    toml = tmp_path / "schedule.toml"
    toml.write_text('[report]\ncron = "*/5 * * * *"\nclass = "HardWorker"\nargs = [1]\n')
    by_name = {e.name: e for e in load_schedule(yml)}
    assert by_name["report"].queue == "crit" and by_name["report"].args == [1]
    assert by_name["cleanup"].description == "nightly"
    assert load_schedule(toml)[0].message == {
        "queue": "default",
        "class": "HardWorker",
        "args": [1],
    }
    bad = tmp_path / "bad.toml"
    bad.write_text('[x]\ncron = "* * * * *"\nclass = "A"\nretries = 3\n')
    with pytest.raises(CronEntryError, match=r"bad.toml: entry 'x' has unknown keys \['retries'\]"):
        load_schedule(bad)


def test_app_cron_registration() -> None:
    app = App()
    entry = app.cron("report", "*/5 * * * *", "HardWorker", args=[1], queue="crit")
    assert app.cron_entries == {"report": entry}
    app.add_cron(entry)  # the same definition twice is harmless
    with pytest.raises(ValueError, match="already defined"):
        app.cron("report", "0 * * * *", "HardWorker")


async def test_worker_saves_and_polls_cron(redis_url: str, r: redis.Redis) -> None:
    app = App()
    seen: list[Any] = []

    @app.job("Tick")
    def tick(*args: Any) -> None:
        seen.append(args)

    app.cron("tick", "* * * * * *", "Tick", args=[1])  # every second (a seconds cron)
    worker = Worker(app, {"default": 1}, redis_url=redis_url, cron_interval=0.2)
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(20):
            while len(seen) < 2:
                await asyncio.sleep(0.05)
    finally:
        worker.stop()
        await task
        await worker.aclose()
    assert json.loads(r.hget("cron_job:tick", "message")) == {  # type: ignore[arg-type]
        "queue": "default",
        "class": "Tick",
        "args": [1],
    }
    assert seen[0] == (1,)


def test_the_readme_example_defines_its_entries() -> None:
    from examples.cron_app import app

    assert sorted(app.cron_entries) == ["nightly_cleanup", "report", "weekday_digest"]
    assert app.cron_entries["nightly_cleanup"].queue == "low"
