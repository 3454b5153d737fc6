"""``verk-compat cron list|enable|disable|run-now`` against a real Redis."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import redis
import redis.asyncio
from click.testing import CliRunner

from verk_compat.cli import main
from verk_compat.codec.cron_entry import CronEntry
from verk_compat.codec.job import Job
from verk_compat.devtools.redis_server import free_port
from verk_compat.keys import Keys
from verk_compat.worker.cron import CronStore


def run(*args: str, url: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, ["cron", *args, "--redis-url", url])
    assert result.exit_code == code, result.output
    return result.output


def seed(url: str, *entries: CronEntry) -> None:
    async def go() -> None:
        client = redis.asyncio.Redis.from_url(url)
        await CronStore(client, Keys()).save_all(entries)
        await client.aclose()

    asyncio.run(go())


def test_list_enable_disable_run_now(redis_url: str, r: redis.Redis) -> None:
    seed(redis_url, CronEntry.define("report", "*/5 * * * *", "HardWorker", [1], queue="crit"))
    r.sadd("cron_jobs", "cron_job:broken")
    r.hset("cron_job:broken", mapping={"name": "broken", "cron": "* * * * *"})
    out = run("list", url=redis_url)
    assert "report" in out and "enabled" in out and "*/5 * * * *" in out and "crit" in out
    assert "unreadable" in out and "(1 entries)" in out
    listed: list[dict[str, Any]] = json.loads(run("list", "--json", url=redis_url))
    entry = next(e for e in listed if e.get("name") == "report")
    assert entry["next_time"] % 300 == 0 and entry["last_enqueue_time"] is None

    assert run("disable", "report", url=redis_url).strip() == "report: disabled"
    assert r.hget("cron_job:report", "status") == b"disabled"
    assert "report: enabled" in run("enable", "report", url=redis_url)
    assert "no cron entry named 'nope'" in run("disable", "nope", url=redis_url, code=1)

    done = json.loads(run("run-now", "report", "--json", url=redis_url))
    job = Job.decode(r.lindex("queue:crit", 0))  # type: ignore[arg-type]
    assert done == {"name": "report", "jid": job.jid, "queue": "crit"}
    assert job.args == [1]
    assert "no cron entry named 'nope'" in run("run-now", "nope", url=redis_url, code=1)


def test_unreachable_redis_exits_2() -> None:
    out = run("list", url=f"redis://127.0.0.1:{free_port()}/0", code=2)
    assert "unreachable" in out
