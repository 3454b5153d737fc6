"""Sidekiq Web's Quiet and Stop buttons (ruby-sidekiq 6.4.1's Rack app, its CSRF protection
included, driven by ``tests/support/ruby/web_post.rb``) act on a running Python worker."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from typing import Any

import pytest
import redis

from tests.support.ruby import RUBY_DIR
from verk_compat.codec.job import Job, now
from verk_compat.keys import Keys
from verk_compat.worker.app import App
from verk_compat.worker.launcher import Worker

pytestmark = pytest.mark.interop

K = Keys()
POST = RUBY_DIR / "web_post.rb"


def press(redis_url: str, path: str, **params: str) -> dict[str, Any]:
    """GET ``path`` for its authenticity token, then POST ``params`` with it."""
    proc = subprocess.run(
        ["ruby", str(POST), path, *(f"{k}={v}" for k, v in params.items())],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "REDIS_URL": redis_url},
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"web_post failed:\n{proc.stderr}\n{proc.stdout}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


async def wait_for(predicate: Any, timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


async def test_web_quiet_then_stop_buttons(r: redis.Redis, redis_url: str) -> None:
    app = App()
    ran: list[int] = []

    @app.job("Count")
    async def count(i: int) -> None:
        ran.append(i)

    w = Worker(
        app,
        {"default": 2},
        redis_url=redis_url,
        block_timeout=0.2,
        beat_interval=0.2,
        poll_interval=1,
        profile="sidekiq6",
    )
    task = asyncio.create_task(w.run())
    try:
        await wait_for(lambda: r.sismember(K.processes, w.identity))
        r.lpush(K.queue("default"), Job.new("Count", [1]).replace(enqueued_at=now()).encode())
        await wait_for(lambda: ran == [1])

        quiet = await asyncio.to_thread(press, redis_url, "/busy", identity=w.identity, quiet="1")
        assert quiet["get"] == 200 and quiet["post"] == 302, quiet
        assert quiet["location"].endswith("/busy")
        assert quiet["without_token"] == 403, "CSRF protection did not refuse a tokenless POST"
        await wait_for(lambda: w.quiet and r.hget(K.process(w.identity), "quiet") == b"true")
        # Quiet: a new job is not fetched.
        raw = Job.new("Count", [2]).replace(enqueued_at=now()).encode()
        r.lpush(K.queue("default"), raw)
        await asyncio.sleep(0.8)
        assert ran == [1] and r.lrange(K.queue("default"), 0, -1) == [raw]
        assert not task.done()

        stop = await asyncio.to_thread(press, redis_url, "/busy", identity=w.identity, stop="1")
        assert stop["post"] == 302, stop
        await asyncio.wait_for(task, 15)
    finally:
        w.stop()
        await asyncio.wait_for(task, 15)
        await w.aclose()
    assert not r.sismember(K.processes, w.identity)
    assert r.lrange(K.queue("default"), 0, -1) == [raw] and r.keys("inprogress:*") == []
