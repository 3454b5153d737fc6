"""What each role does, for the ACL tests (issue 16 item 8): worker, client, admin CLI, migration.

Each ``exercise_*`` runs every Redis path of its role against ``url`` (a URL carrying the ACL
user) and asserts it worked; ``setup_*`` prepares the data as the default user first.
:func:`acl_lines` reads the documented ``ACL SETUSER`` lines from docs/ACL.md, so the tests
check exactly what the docs say.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import redis
from click.testing import CliRunner

from verk_compat.api import ProcessSet
from verk_compat.cli import main
from verk_compat.client.async_client import AsyncClient
from verk_compat.client.client import Client
from verk_compat.codec.job import Job, now
from verk_compat.keys import Keys, ResqueKeys
from verk_compat.worker.app import App
from verk_compat.worker.launcher import Worker

K, RK = Keys(), ResqueKeys()
DOC = Path(__file__).resolve().parents[2] / "docs" / "ACL.md"
ROLES = ("worker", "client", "admin", "migration")


def acl_lines() -> dict[str, str]:
    """Role -> the rules of its documented ``ACL SETUSER <role> ...`` line (after the name)."""
    found = re.findall(r"^\s*ACL SETUSER verk-(\w+) (.+)$", DOC.read_text(), flags=re.M)
    return {role: rules.strip() for role, rules in found}


def user_url(url: str, user: str, password: str, db: int = 0) -> str:
    """``url`` with ``user:password@`` and database ``db``."""
    rest = url.split("://", 1)[1].split("@")[-1].rsplit("/", 1)[0]
    return f"redis://{user}:{password}@{rest}/{db}"


# -- worker -------------------------------------------------------------------------------------


def setup_worker(r: redis.Redis) -> None:
    """Jobs for every worker path: success, retry, dead, due schedule/retry, orphan, junk."""
    for args in ([1], [2]):
        r.lpush(K.queue("default"), Job.new("Ok", args).replace(enqueued_at=now()).encode())
    r.lpush(K.queue("default"), Job.new("Flaky", [3]).encode())
    r.lpush(K.queue("default"), Job.new("Doomed", [4], retry=0).encode())
    r.lpush(K.queue("default"), b"{not a job")
    r.sadd(K.queues, "default")
    r.zadd(K.schedule, {Job.new("Ok", [5]).encode(): now() - 1})
    r.zadd(K.retry, {Job.new("Ok", [6]).replace(retry_count=0).encode(): now() - 1})
    orphan = "gone-host:1:000000000000"
    r.lpush(K.inprogress("default", orphan), Job.new("Ok", [7]).encode())


async def exercise_worker(url: str, check: redis.Redis) -> None:
    """Run a worker until every path above happened, then stop it (requeue on shutdown)."""
    ran: list[int] = []
    app = App()
    app.register("Ok", ran.append)

    def flaky(n: int) -> None:
        raise RuntimeError("flaky")

    app.register("Flaky", flaky)
    app.register("Doomed", flaky)
    worker = Worker(
        app, {"default": 2, "other": 1}, redis_url=url, beat_interval=0.1, poll_interval=0.1,
        orphan_interval=0.2, heartbeat_ttl=2, block_timeout=0.2, shutdown_timeout=2,
    )  # fmt: skip
    task = asyncio.create_task(worker.run())
    try:
        deadline = time.monotonic() + 20
        while sorted(ran) != [1, 2, 5, 6, 7] or check.zcard(K.retry) != 1:
            assert time.monotonic() < deadline, (ran, check.zcard(K.retry))
            assert not task.done(), task
            await asyncio.sleep(0.05)
        assert check.zcard(K.dead) == 2  # Doomed and the junk
        ProcessSet(check, K).signal(worker.identity, "TSTP")  # quiet, then stop
        await asyncio.sleep(0.3)
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)
        await worker.aclose()


# -- client -------------------------------------------------------------------------------------


async def exercise_client(url: str, check: redis.Redis) -> None:
    """Every push: enqueue, bulk, schedule, enqueue_in, Resque target, the asyncio client."""
    with Client(url) as client:
        client.enqueue("W", [1])
        client.enqueue_many("W", [[i] for i in range(3)])
        client.schedule("W", [2], at=now() + 60)
        client.enqueue_in(60, "W", [3])
    with Client(url, target="resque") as client:
        client.enqueue("W", [4])
    async with AsyncClient(url) as aclient:
        await aclient.enqueue("W", [5])
        await aclient.enqueue_many("W", [[6], [7]])
        await aclient.schedule("W", [8], at=now() + 60)
    assert check.llen(K.queue("default")) == 7 and check.zcard(K.schedule) == 3
    assert check.llen(RK.queue("default")) == 1


# -- admin CLI ----------------------------------------------------------------------------------


def setup_admin(r: redis.Redis) -> list[str]:
    """A live process, queues and a job in each set; returns the jids to act on."""
    info = json.dumps({"hostname": "h", "pid": 1, "queues": ["default"]})
    r.sadd(K.processes, "h:1:abc", "h:2:gone")
    r.hset("h:1:abc", mapping={"info": info, "busy": 0, "beat": now(), "quiet": "false"})
    r.lpush(K.queue("default"), Job.new("W", [0]).encode())
    r.sadd(K.queues, "default")
    jids: list[str] = []
    for key in (K.retry, K.retry, K.schedule, K.schedule, K.dead, K.dead):
        job = Job.new("W", [len(jids)]).replace(retry_count=1, error_class="E")
        r.zadd(key, {job.encode(): now() + 60})
        jids.append(str(job.jid))
    return jids


def exercise_admin(url: str, jids: list[str]) -> None:
    """Every admin command, listings and actions."""
    commands = [
        ["stats"], ["queues"], ["processes"], ["retries", "list"], ["dead", "list"],
        ["scheduled", "list"], ["retries", "retry", jids[0]], ["retries", "kill", jids[1]],
        ["scheduled", "enqueue", jids[2]], ["scheduled", "delete", jids[3]],
        ["dead", "retry", jids[4]], ["dead", "delete", jids[5]], ["retries", "retry", "--all"],
        ["retries", "kill", "--all"], ["dead", "retry", "--all"], ["dead", "clear"],
        ["processes", "quiet", "h:1:abc"], ["processes", "stop", "h:1:abc"],
    ]  # fmt: skip
    for command in commands:
        result = CliRunner().invoke(main, [*command, "--redis-url", url])
        assert result.exit_code == 0, (command, result.output)
        assert "unreadable" not in result.output, (command, result.output)
    client = redis.Redis.from_url(url)
    try:
        assert ProcessSet(client, K).cleanup() == 1  # h:2:gone pruned (Sidekiq 6.5.4+ lock)
    finally:
        client.close()


# -- migration ----------------------------------------------------------------------------------


def setup_migration(r: redis.Redis) -> None:
    """Resque jobs and a failure, Verk jobs, namespaced Sidekiq jobs."""
    r.sadd(RK.queues, "default")
    r.rpush(RK.queue("default"), json.dumps({"class": "A", "args": [1]}), b"{junk")
    failure = {
        "failed_at": "2024/01/02 03:04:05 UTC", "payload": {"class": "B", "args": []},
        "exception": "E", "error": "x", "backtrace": [], "queue": "default",
    }  # fmt: skip
    r.rpush(RK.failed, json.dumps(failure))
    r.lpush(K.queue("verk"), b'{"class":"V","args":"[1]","queue":"verk","max_retry_count":3}')
    r.sadd(K.queues, "verk")
    ns = Keys("ns")
    r.sadd(ns.queues, "default")
    r.lpush(ns.queue("default"), Job.new("N", [1]).encode())
    r.zadd(ns.retry, {Job.new("N", [2]).encode(): now()})
    r.set(ns.stat_processed, 5)


def _cli(*args: str) -> Any:
    result = CliRunner().invoke(main, ["migrate", *args, "--json"])
    assert result.exit_code == 0, (args, result.output)
    return json.loads(result.stdout)


def exercise_migration(url: str, other_db_url: str, check: redis.Redis) -> None:
    """Every mode: dry run, on one server, and to another database (mark/apply/finish)."""
    _cli("resque-to-sidekiq", "--from-url", url, "--dry-run")
    _cli("resque-to-sidekiq", "--from-url", url)
    _cli("verk-to-sidekiq", "--from-url", url)
    _cli("namespace", "--from-url", url, "--namespace", "ns", "--to-url", other_db_url)
    # retry has no Resque equivalent: left on purpose.
    _cli("sidekiq-to-resque", "--from-url", other_db_url, "--queue", "default", "--skip-unhandled")
    _cli("move", "--from-url", url, "--to-url", other_db_url)
    assert check.llen(RK.queue("default")) >= 1 and check.zcard(K.retry) == 1
    assert check.llen(K.queue("verk")) == 1 and check.zcard(K.dead) == 1
