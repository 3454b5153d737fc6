"""The Python worker as Ruby sees it: Sidekiq::ProcessSet, Sidekiq::Workers, Process#quiet!
and #stop!, and Sidekiq Web's own pages (ruby-sidekiq 6.4.1's Rack app, driven through
Rack::MockRequest by ``tests/support/ruby/web_probe.rb``)."""

from __future__ import annotations

import asyncio
import html
import json
import os
import subprocess
from typing import Any

import pytest
import redis

from tests.support.ruby import RUBY_DIR, ruby_eval, ruby_json
from verk_compat.codec.job import Job, now
from verk_compat.keys import Keys
from verk_compat.worker.app import App
from verk_compat.worker.launcher import Worker

pytestmark = pytest.mark.interop

K = Keys()
PROBE = RUBY_DIR / "web_probe.rb"


def web(redis_url: str, *paths: str) -> dict[str, dict[str, Any]]:
    """Render Sidekiq Web pages; {path: {"status", "body"}}."""
    proc = subprocess.run(
        ["ruby", str(PROBE), *paths],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "REDIS_URL": redis_url},
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"web_probe failed:\n{proc.stderr}\n{proc.stdout}")
    pages: dict[str, dict[str, Any]] = json.loads(proc.stdout.strip().splitlines()[-1])
    return pages


def push(r: redis.Redis, job: Job) -> bytes:
    raw = job.replace(enqueued_at=now()).encode()
    r.lpush(K.queue(job.queue or "default"), raw)
    return raw


def make_worker(app: App, redis_url: str, queues: dict[str, int]) -> Worker:
    # The default profile: no flag makes 6.x Web (and 7.x+, see below) list the running jobs.
    return Worker(
        app,
        queues,
        redis_url=redis_url,
        block_timeout=0.2,
        beat_interval=0.2,
        poll_interval=1,
        tag="pyapp",
    )


async def wait_for(predicate: Any, timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


async def test_process_set_workers_and_busy_page_while_jobs_run(
    r: redis.Redis, redis_url: str
) -> None:
    app = App()
    release = asyncio.Event()
    started: list[int] = []

    @app.job("Billing::Charge")
    async def charge(i: int, who: str) -> None:
        started.append(i)
        await release.wait()

    for i in (1, 2):
        push(r, Job.new("Billing::Charge", [i, f"cust-{i}"], queue="critical"))
    w = make_worker(app, redis_url, {"default": 3, "critical": 2})
    task = asyncio.create_task(w.run())
    try:
        await wait_for(lambda: len(started) == 2)
        await wait_for(lambda: r.hget(K.process(w.identity), "busy") == b"2")
        await wait_for(lambda: r.hlen(K.workers(w.identity)) == 2)
        # What 7.x+ Web reads (<identity>:work), written in the same beat: the same entries,
        # in the shape of the recorded 7.3.10 work hash.
        assert r.hgetall(K.work(w.identity)) == r.hgetall(K.workers(w.identity))
        seen = await asyncio.to_thread(
            ruby_json,
            """
procs = Sidekiq::ProcessSet.new.map { |p|
  [p.identity, p["concurrency"], p["queues"], p["busy"], p.stopping?, p.tag, p["pid"]] }
workers = []
Sidekiq::Workers.new.each { |pid, tid, work|
  workers << [pid, work["queue"], work["payload"]["class"], work["payload"]["args"],
              work["run_at"].is_a?(Integer)] }
puts JSON.generate([procs, workers.sort, Sidekiq::Workers.new.size,
                    Sidekiq::Stats.new.workers_size, Sidekiq::ProcessSet.new.total_concurrency])
""",
            redis_url,
        )
        pages = await asyncio.to_thread(web, redis_url, "/busy", "/")
    finally:
        release.set()
        w.stop()
        await asyncio.wait_for(task, 10)
        await w.aclose()
    procs, workers, size, workers_size, total = seen
    pid = int(w.identity.split(":")[-2])
    assert procs == [[w.identity, 5, ["default", "critical"], 2, False, "pyapp", pid]]
    assert workers == [
        [w.identity, "critical", "Billing::Charge", [1, "cust-1"], True],
        [w.identity, "critical", "Billing::Charge", [2, "cust-2"], True],
    ]
    assert (size, workers_size, total) == (2, 2, 5)
    busy, dash = pages["/busy"], pages["/"]
    assert busy["status"] == 200 and dash["status"] == 200
    page = html.unescape(busy["body"])
    host, pid_text, _ = w.identity.rsplit(":", 2)
    assert f"{host}:{pid_text}" in page and w.identity in page
    assert "default, critical" in page and "pyapp" in page
    assert "Billing::Charge" in page and "cust-1" in page and "cust-2" in page
    # Dashboard: the busy count and the process count come from our heartbeat.
    dash_page = html.unescape(dash["body"])
    assert '<span id="txtBusy" class="count">2</span>' in dash_page
    assert not r.sismember(K.processes, w.identity)


async def test_ruby_quiet_and_stop_control_the_python_worker(
    r: redis.Redis, redis_url: str
) -> None:
    app = App()
    release = asyncio.Event()
    ran: list[int] = []

    @app.job("Hold")
    async def hold(i: int) -> None:
        ran.append(i)
        await release.wait()

    push(r, Job.new("Hold", [1]))
    w = make_worker(app, redis_url, {"default": 2})
    task = asyncio.create_task(w.run())
    try:
        await wait_for(lambda: ran == [1] and r.sismember(K.processes, w.identity))
        await asyncio.to_thread(ruby_eval, "Sidekiq::ProcessSet.new.each(&:quiet!)", redis_url)
        await wait_for(lambda: w.quiet)
        stopping = await asyncio.to_thread(
            ruby_json,
            "sleep 0.5; puts JSON.generate(Sidekiq::ProcessSet.new.map(&:stopping?))",
            redis_url,
        )
        assert stopping == [True]
        push(r, Job.new("Hold", [2]))
        await asyncio.sleep(0.5)
        assert ran == [1], "quiet: nothing more is fetched"
        release.set()
        await asyncio.to_thread(ruby_eval, "Sidekiq::ProcessSet.new.each(&:stop!)", redis_url)
        await asyncio.wait_for(task, 10)
    finally:
        release.set()
        w.stop()
        await asyncio.gather(task, return_exceptions=True)
        await w.aclose()
    assert ran == [1] and r.llen(K.queue("default")) == 1
    assert not r.sismember(K.processes, w.identity)
    size = await asyncio.to_thread(ruby_json, "puts Sidekiq::ProcessSet.new.size", redis_url)
    assert size == 0


async def test_retries_and_dead_pages_list_python_failures(r: redis.Redis, redis_url: str) -> None:
    app = App()

    @app.job("Billing::Refund")
    def refund(order: int) -> None:
        raise ValueError(f"order {order} was never paid")

    push(r, Job.new("Billing::Refund", [41]))
    push(r, Job.new("Billing::Refund", [42], retry=0))
    w = make_worker(app, redis_url, {"default": 2})
    task = asyncio.create_task(w.run())
    try:
        await wait_for(lambda: r.zcard(K.retry) == 1 and r.zcard(K.dead) == 1)
    finally:
        w.stop()
        await asyncio.wait_for(task, 10)
        await w.aclose()
    pages = await asyncio.to_thread(web, redis_url, "/retries", "/morgue", "/")
    assert all(p["status"] == 200 for p in pages.values())
    retries = html.unescape(pages["/retries"]["body"])
    morgue = html.unescape(pages["/morgue"]["body"])
    assert "Billing::Refund" in retries and "ValueError: order 41 was never paid" in retries
    assert "Billing::Refund" in morgue and "ValueError: order 42 was never paid" in morgue
    assert "order 42" not in retries and "order 41" not in morgue
