"""Shared helpers of the migration tests: source states and crash hooks."""

from __future__ import annotations

import json
from typing import Any

import redis

from tests.support.replies import as_bytes
from verk_compat.keys import ResqueKeys
from verk_compat.migrate import UnitReport

RK = ResqueKeys()

VERK = (
    b'{"queue":"default","max_retry_count":5,"jid":"123456789012","class":"Elixir.MyWorker",'
    b'"finished_at":null,"failed_at":1700000000,"error_message":"oops","error_backtrace":'
    b'"lib/a.ex:1\\nlib/b.ex:2","enqueued_at":1699999990,"retried_at":null,"retry_count":2,'
    b'"created_at":null,"args":"[1,\\"a\\"]"}'
)


def failure(**changes: Any) -> bytes:
    entry = {
        "failed_at": "2024/01/02 03:04:05 UTC",
        "payload": {"class": "BadJob", "args": [7, "x"]},
        "exception": "RuntimeError",
        "error": "boom",
        "backtrace": ["app/jobs/bad.rb:3:in `perform'", "lib/resque/job.rb:1"],
        "worker": "host:12:default",
        "queue": "critical",
        **changes,
    }
    return json.dumps(entry).encode()


class Crash(Exception):
    pass


def crash_after(n: int, step: str = "moved") -> Any:
    seen = {"n": 0}

    def hook(name: str, rep: UnitReport) -> None:
        if name == step:
            seen["n"] += 1
            if seen["n"] == n:
                raise Crash(name)

    return hook


def resque_jobs(r: redis.Redis, queue: str, n: int, start: int = 0) -> None:
    r.sadd(RK.queues, queue)
    for i in range(start, start + n):
        r.rpush(RK.queue(queue), json.dumps({"class": "InteropWorker", "args": [i, f"j{i}"]}))


def resque_delayed(r: redis.Redis, ts: int, klass: str, args: list[Any], queue: str) -> bytes:
    """What resque-scheduler's ``delayed_push`` writes for ``Resque.enqueue_at(ts, ...)``."""
    item = json.dumps({"class": klass, "args": args, "queue": queue}, separators=(",", ":"))
    r.rpush(RK.delayed(ts), item)
    r.sadd(RK.key(f"timestamps:{item}"), RK.delayed_member(ts))
    r.zadd(RK.delayed_schedule, {str(ts): ts})
    return item.encode()


def sidekiq_run_order(r: redis.Redis, key: str) -> list[dict[str, Any]]:
    """Payloads in the order Sidekiq pops them (from the right)."""
    return [json.loads(p) for p in reversed(r.lrange(key, 0, -1))]


def snapshot(r: redis.Redis) -> dict[bytes, Any]:
    return {as_bytes(key): r.dump(key) for key in r.keys("*")}
