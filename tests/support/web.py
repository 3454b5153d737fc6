"""Seed Redis for the dashboard tests with Ruby-written data (recorded Sidekiq 6.4.1 payloads)
and Python-written data, and a TestClient helper that carries the CSRF token."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from pathlib import Path
from typing import Any

import redis
from starlette.testclient import TestClient

from verk_compat.client.client import Client
from verk_compat.codec.job import Job, now

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sidekiq-6.4.1"
RUBY_IDENTITY = "vm:13080:7af3c8f2b2e6"
EVIL = "<script>alert('x')</script>"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def seed(redis_url: str, r: redis.Redis) -> dict[str, Any]:
    """Ruby's retry (with a compressed backtrace) and dead payloads, a Ruby process busy with
    one job, Python-enqueued jobs (one argument is a script tag), a scheduled job."""
    retry_fx, dead_fx = fixture("retry_backtrace_10"), fixture("dead_after_retries_exhausted")
    # Due a day from now: a live poller (Ruby's or ours) must not move it during a test.
    r.zadd("retry", {retry_fx["raw"].encode(): time.time() + 86400})
    r.zadd("dead", {dead_fx["raw"].encode(): float(dead_fx["score_raw"])})
    beat = fixture("process_heartbeat")["raw"]
    r.sadd("processes", RUBY_IDENTITY)
    r.hset(RUBY_IDENTITY, mapping={**beat, "beat": str(time.time())})
    work = fixture("work_hash")["raw"]
    r.hset(f"{RUBY_IDENTITY}:workers", mapping=work)
    with Client(redis_url) as client:
        jids = [client.enqueue("PyJob", [i, EVIL], queue="critical") for i in range(30)]
        scheduled = client.enqueue_in(3600, "LaterJob", ["later"])
    today = dt.datetime.now(dt.UTC).date()
    for back in range(30):
        day = (today - dt.timedelta(days=back)).isoformat()
        r.set(f"stat:processed:{day}", 400 + (back * 37) % 300)
        r.set(f"stat:failed:{day}", (back * 13) % 40)
    r.lpush("queue:default", Job.new("Plain", ["a"]).replace(enqueued_at=now()).encode())
    r.sadd("queues", "default")
    return {"retry": retry_fx, "dead": dead_fx, "jids": jids, "scheduled": scheduled}


def csrf(client: TestClient, path: str = "/") -> str:
    """GET ``path`` (sets the CSRF cookie) and return the form token of the page."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'name="authenticity_token" value="([0-9a-f]+)"', page.text)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)
