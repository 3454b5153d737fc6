"""Health verdicts (pure) and ``verk-compat health`` against a real Redis and a real worker."""

from __future__ import annotations

import asyncio
import json
import time

import redis
from click.testing import CliRunner

from tests.support.replies import hset_fields
from verk_compat.api.health import judge
from verk_compat.api.processes import Process
from verk_compat.cli import main
from verk_compat.devtools.redis_server import free_port
from verk_compat.keys import Keys
from verk_compat.worker.app import App
from verk_compat.worker.launcher import Worker
from verk_compat.worker.process_info import heartbeat_fields

K = Keys()


def proc(identity: str, beat: float) -> Process:
    return Process(identity, {"hostname": "h"}, 0, beat, False, 0, 0, 1)


def test_judge() -> None:
    assert judge([], stamp=100.0, host="h").line == "FAIL no live worker process for host h"
    fresh = judge([proc("h:1:a", 95.0), proc("h:2:b", 90.0)], stamp=100.0, host="h")
    assert fresh.ok and fresh.line == "OK 2 processes for host h, oldest beat 10.0s ago"
    stale = judge([proc("h:1:a", 95.0), proc("h:2:b", 60.0)], stamp=100.0, max_age=30, host="h")
    assert not stale.ok and stale.line == "FAIL h:2:b last beat 40.0s ago (max 30s)"
    one = judge([proc("h:1:a", 99.0)], stamp=100.0, identity="h:1:a")
    assert one.ok and "1 process for process h:1:a" in one.line


def health(*args: str, url: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["health", *args, "--redis-url", url])
    return result.exit_code, result.output


def beat(r: redis.Redis, identity: str, host: str, age: float) -> None:
    info = json.dumps({"hostname": host, "identity": identity, "queues": ["default"]})
    fields = heartbeat_fields(
        info.encode(), busy=0, quiet=False, beat=time.time() - age, rss=1, rtt_us=1, concurrency=1
    )
    r.sadd(K.processes, identity)
    hset_fields(r, K.process(identity), fields)


def test_health_command(redis_url: str, r: redis.Redis) -> None:
    code, out = health("--host", "box", url=redis_url)
    assert (code, out) == (1, "FAIL no live worker process for host box\n")
    beat(r, "box:1:aaa", "box", 2)
    beat(r, "other:1:bbb", "other", 500)
    code, out = health("--host", "box", url=redis_url)
    assert code == 0 and out.startswith("OK 1 process for host box")
    code, out = health("--identity", "other:1:bbb", url=redis_url)
    assert code == 1 and out.startswith("FAIL other:1:bbb last beat 5")
    code, out = health("--identity", "other:1:bbb", "--max-age", "600", url=redis_url)
    assert code == 0
    beat(r, "box:2:ccc", "box", 45)
    assert health("--host", "box", url=redis_url)[0] == 1


def test_health_when_redis_is_down() -> None:
    code, out = health(url=f"redis://127.0.0.1:{free_port()}/0")
    assert code == 1 and out.startswith("FAIL Redis unreachable") and out.count("\n") == 1


async def test_health_of_a_running_worker_on_this_host(redis_url: str) -> None:
    worker = Worker(App(), {"default": 1}, redis_url=redis_url, block_timeout=0.2)
    task = asyncio.create_task(worker.run())
    try:
        for _ in range(100):
            code, out = await asyncio.to_thread(health, url=redis_url)
            if code == 0:
                break
            await asyncio.sleep(0.05)
        assert code == 0, out
        code, out = await asyncio.to_thread(health, "--identity", worker.identity, url=redis_url)
        assert code == 0 and worker.identity in out
    finally:
        worker.stop()
        await task
        await worker.aclose()
    code, out = await asyncio.to_thread(health, "--identity", worker.identity, url=redis_url)
    assert code == 1  # left processes on shutdown
