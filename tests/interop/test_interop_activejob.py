"""Real Rails ActiveJob 6.1 on the Sidekiq 6.4.1 adapter, both ways.

Rails' ``MyJob.perform_later`` (and ``set(wait: 5)``) runs in a Python handler registered as
``MyJob`` with Python values; a job enqueued by :class:`~verk_compat.client.activejob.RailsJob`
runs in Rails' ``MyJob#perform`` (``tests/support/ruby/rails_consumer.rb`` records each
argument's Ruby class and ``inspect``); a job failing in Python is in Ruby's retry set under its
Rails class.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.replies import zscored
from tests.support.ruby import RUBY_DIR, SidekiqProcess, ruby_eval, ruby_json
from verk_compat.client.activejob import AsyncRailsJob, RailsJob
from verk_compat.client.async_client import AsyncClient
from verk_compat.client.client import Client
from verk_compat.codec.activejob import (
    OLD_WRAPPER,
    GlobalID,
    IndifferentHash,
    RubyModule,
    Symbol,
)
from verk_compat.keys import Keys
from verk_compat.worker.activejob import ActiveJobInfo, current_job
from verk_compat.worker.app import App
from verk_compat.worker.launcher import Worker

pytestmark = pytest.mark.interop

K = Keys()
RAILS = RUBY_DIR / "rails_consumer.rb"
UTC = dt.UTC


def rails_eval(code: str, redis_url: str, tmp_path: Path) -> str:
    """Run ``code`` with Rails' MyJob defined (ActiveJob on the Sidekiq adapter)."""
    prelude = f"require {json.dumps(str(RAILS))}\n"
    return ruby_eval(prelude + code, redis_url, INTEROP_OUT=str(tmp_path / "unused.jsonl"))


async def run_until(worker: Worker, done: Any, timeout: float = 30) -> None:
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(timeout):
            while not done():
                await asyncio.sleep(0.05)
    finally:
        worker.stop()
        await task
        await worker.aclose()


def fast_worker(app: App, redis_url: str) -> Worker:
    return Worker(
        app, {"default": 2, "critical": 1}, redis_url=redis_url, poll_interval=0.2,
        block_timeout=0.2, beat_interval=0.5,
    )  # fmt: skip


RAILS_ENQUEUES = """
MyJob.perform_later(1, "x", {a: 1}, :sym, kw: 2)
MyJob.set(wait: 5).perform_later("later", at: Time.utc(2024, 1, 2, 3, 4, 5.25r))
MyJob.set(queue: "critical", priority: 7).perform_later(
  Date.new(2024, 1, 2), 5.minutes, ActiveSupport::HashWithIndifferentAccess.new(k: "v"),
  Math, Person.new(42), Time.utc(2024, 1, 2).in_time_zone("Europe/Paris"), [:a, {"s" => nil}]
)
"""


async def test_rails_perform_later_runs_in_python_with_python_values(
    r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    before = time.time()
    rails_eval(RAILS_ENQUEUES, redis_url, tmp_path)
    ((_, score),) = zscored(r, K.schedule)
    assert before + 5 <= score <= time.time() + 5  # set(wait: 5) is in Sidekiq's schedule
    seen: list[tuple[list[Any], dict[str, Any], ActiveJobInfo]] = []
    app = App()

    @app.job("MyJob")
    def my_job(*args: Any, **kwargs: Any) -> None:
        seen.append((list(args), kwargs, current_job()))

    await run_until(fast_worker(app, redis_url), lambda: len(seen) == 3)
    by_first = {repr(args[0]): (args, kwargs, info) for args, kwargs, info in seen}
    args, kwargs, info = by_first["1"]
    assert args == [1, "x", {Symbol("a"): 1}, Symbol("sym")] and kwargs == {"kw": 2}
    assert [type(a) for a in args] == [int, str, dict, Symbol]
    assert type(next(iter(args[2]))) is Symbol
    assert (info.job_class, info.locale, info.timezone, info.executions) == (
        "MyJob", "en", "UTC", 1,  # executions: what Rails' perform sees (checked in Ruby below)
    )  # fmt: skip
    assert info.job_id and len(info.jid) == 24 and info.queue_name == "default"
    args, kwargs, info = by_first["'later'"]
    assert kwargs == {"at": dt.datetime(2024, 1, 2, 3, 4, 5, 250000, UTC)}
    assert time.time() >= score - 0.5  # ran once due, not before
    args, kwargs, info = by_first["datetime.date(2024, 1, 2)"]
    assert args == [
        dt.date(2024, 1, 2), dt.timedelta(minutes=5), IndifferentHash(k="v"), RubyModule("Math"),
        GlobalID("gid://app/Person/42"), dt.datetime(2024, 1, 2, tzinfo=UTC),
        [Symbol("a"), {"s": None}],
    ]  # fmt: skip
    assert type(args[2]) is IndifferentHash and args[5].utcoffset() == dt.timedelta(hours=1)
    assert (info.queue_name, info.priority) == ("critical", 7)


def describe(line: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["class"], a.get("inspect", "")) for a in line["args"]]


@pytest.fixture
def rails_sidekiq(redis_url: str, tmp_path: Path) -> Any:
    with SidekiqProcess(
        redis_url, queues=("default", "critical"), require=RAILS, env={"FAST_POLL": "1"}
    ) as proc:
        yield proc


def wait_lines(proc: SidekiqProcess, count: int) -> list[dict[str, Any]]:
    lines = proc.wait_for(count, timeout=60)
    if len(lines) < count:
        pytest.fail(f"Rails ran {len(lines)} of {count} jobs:\n{proc.log.read_text()[-3000:]}")
    return lines


def test_python_perform_later_runs_in_rails_with_ruby_types(
    redis_url: str, rails_sidekiq: SidekiqProcess
) -> None:
    when = dt.datetime(2024, 1, 2, 3, 4, 5, 250000, dt.timezone(dt.timedelta(hours=2)))
    with Client(redis_url) as client:
        job = RailsJob(client, "MyJob")
        first = job.perform_later(1, "x", {Symbol("a"): 1}, Symbol("sym"), kw=2)
        job.set(queue="critical", priority=3).perform_later(
            when, dt.date(2024, 1, 2), dt.timedelta(minutes=5), IndifferentHash(k="v"),
            RubyModule("Math"), [Symbol("a"), None], 2.5, True, GlobalID("gid://app/Person/42"),
            opt=Symbol("yes"),
        )  # fmt: skip
        queued = time.time()
        later = job.set(wait=1).perform_later("later")
    lines = {line["job_id"]: line for line in wait_lines(rails_sidekiq, 3)}
    one = lines[first]
    assert describe(one) == [
        ("Integer", "1"), ("String", '"x"'), ("Hash", ""), ("Symbol", ":sym"),
    ]  # fmt: skip
    assert one["args"][2]["items"] == [["Symbol", "a", {"class": "Integer", "inspect": "1"}]]
    assert one["kwargs"] == [["Symbol", "kw", {"class": "Integer", "inspect": "2"}]]
    assert (one["queue"], one["locale"], one["timezone"], one["executions"]) == (
        "default", "en", "UTC", 1,
    )  # fmt: skip
    assert one["provider_job_id"]  # the Sidekiq jid, as Rails' adapter sets it
    (two,) = [line for jid, line in lines.items() if jid not in (first, later)]
    assert describe(two)[:6] == [
        ("Time", "2024-01-02 03:04:05.25 +0200"), ("Date", "Tue, 02 Jan 2024"),
        ("ActiveSupport::Duration", "300 seconds"),
        ("ActiveSupport::HashWithIndifferentAccess", ""),
        ("Module", "Math"), ("Array", ""),
    ]  # fmt: skip
    assert [a["class"] for a in two["args"][5]["items"]] == ["Symbol", "NilClass"]
    assert describe(two)[6:] == [
        ("Float", "2.5"), ("TrueClass", "true"), ("Person", "#<Person id=42>"),
    ]  # fmt: skip
    assert two["kwargs"] == [["Symbol", "opt", {"class": "Symbol", "inspect": ":yes"}]]
    assert (two["queue"], two["priority"]) == ("critical", 3)
    assert describe(lines[later]) == [("String", '"later"')]
    assert lines[later]["performed_at"] >= queued + 1 - 0.05  # scheduled, not run at once


async def test_async_perform_later_runs_in_rails(
    redis_url: str, rails_sidekiq: SidekiqProcess
) -> None:
    client = AsyncClient(redis_url)
    try:
        job_id = await AsyncRailsJob(client, "MyJob").perform_later([Symbol("k")], n=None)
    finally:
        await client.aclose()
    (line,) = wait_lines(rails_sidekiq, 1)
    assert line["job_id"] == job_id
    assert line["args"][0]["items"] == [{"class": "Symbol", "inspect": ":k"}]
    assert line["kwargs"] == [["Symbol", "n", {"class": "NilClass", "inspect": "nil"}]]


async def test_python_failure_is_in_rubys_retry_set_as_the_rails_class(
    r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    rails_eval('MyJob.perform_later("boom")', redis_url, tmp_path)
    app = App()

    @app.job("MyJob")
    def my_job(word: str) -> None:
        raise RuntimeError(f"python says {word}")

    await run_until(fast_worker(app, redis_url), lambda: r.zcard(K.retry) == 1)
    entry = ruby_json(
        """
e = Sidekiq::RetrySet.new.first
puts JSON.generate([e.display_class, e.display_args, e["error_message"], e.klass])
""",
        redis_url,
    )
    assert entry == [
        "MyJob", ["boom"], "python says boom", OLD_WRAPPER,
    ]  # fmt: skip
