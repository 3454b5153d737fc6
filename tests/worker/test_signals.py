"""Signals from ``<identity>-signals`` (Web, ``Process#quiet!``/``#stop!``) and from the OS:
TSTP quiets, TERM stops, TTIN dumps running jobs and stacks."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.replies import smembers
from verk_compat.codec.job import Job, now
from verk_compat.keys import Keys
from verk_compat.worker.app import App
from verk_compat.worker.launcher import Worker
from verk_compat.worker.signals import dispatch, dump

K = Keys()
ROOT = Path(__file__).resolve().parents[2]


def push(r: redis.Redis, job: Job) -> bytes:
    raw = job.replace(enqueued_at=now()).encode()
    r.lpush(K.queue(job.queue or "default"), raw)
    return raw


def make_worker(app: App, redis_url: str, **kw: Any) -> Worker:
    queues = kw.pop("queues", {"default": 2})
    options: dict[str, Any] = {"block_timeout": 0.2, "beat_interval": 0.1, "poll_interval": 1}
    options.update(kw)
    return Worker(app, queues, redis_url=redis_url, **options)


def holding_app() -> tuple[App, asyncio.Event, list[int]]:
    app = App()
    release = asyncio.Event()
    ran: list[int] = []

    @app.job("Hold")
    async def hold(i: int) -> None:
        ran.append(i)
        await release.wait()

    return app, release, ran


async def wait_for(predicate: Any, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


class Target:
    identity = "h:1:ab"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def set_quiet(self) -> None:
        self.calls.append("quiet")

    def stop(self) -> None:
        self.calls.append("stop")

    def dump_state(self) -> None:
        self.calls.append("dump")


def test_dispatch(caplog: pytest.LogCaptureFixture) -> None:
    target = Target()
    for name in ("TSTP", "TERM", "TTIN", "USR9"):
        dispatch(name, target)
    assert target.calls == ["quiet", "stop", "dump"]
    assert "unknown signal 'USR9'" in caplog.text


async def test_dump_lists_jobs_tasks_and_threads() -> None:
    raw = Job.new("Billing::Charge", [1], jid="a" * 24).encode()

    async def parked() -> None:
        await asyncio.sleep(3600)

    task = asyncio.create_task(parked(), name="parked-task")
    await asyncio.sleep(0)
    try:
        text = dump("h:1:ab", {3: ("critical", raw, 100)}, [task], now=160.0)
    finally:
        task.cancel()
    assert "TTIN h:1:ab: 1 running jobs" in text
    assert f"tid=3 queue=critical class=Billing::Charge jid={'a' * 24} running=60s" in text
    assert "task parked-task" in text and "parked" in text
    assert "thread MainThread" in text and "test_dump_lists_jobs_tasks_and_threads" in text
    assert "class=? jid=?" in dump("h", {1: ("q", b"not json", 0)}, threads=False)


async def test_signals_list_tstp_then_ttin_then_term(
    r: redis.Redis, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "verk_compat")
    app, release, ran = holding_app()
    push(r, Job.new("Hold", [1]))
    w = make_worker(app, redis_url)
    task = asyncio.create_task(w.run())
    try:
        await wait_for(lambda: ran == [1])
        r.lpush(K.signals(w.identity), "TSTP")
        await wait_for(lambda: r.hget(K.process(w.identity), "quiet") == b"true")
        assert w.quiet
        # Quiet: a new job is not fetched, the running one still runs.
        push(r, Job.new("Hold", [2]))
        r.lpush(K.signals(w.identity), "TTIN")
        await wait_for(lambda: "running jobs" in caplog.text)
        assert "class=Hold" in caplog.text and "asyncio tasks" in caplog.text
        assert ran == [1] and r.llen(K.queue("default")) == 1
        release.set()
        await wait_for(lambda: r.hget(K.process(w.identity), "busy") == b"0")
        r.lpush(K.signals(w.identity), "TERM")
        await asyncio.wait_for(task, 10)
    finally:
        w.stop()
        release.set()
        await asyncio.gather(task, return_exceptions=True)
        await w.aclose()
    assert ran == [1]
    assert not r.sismember(K.processes, w.identity)
    assert r.llen(K.queue("default")) == 1


async def test_an_unreadable_signal_is_ignored_and_the_next_ones_still_work(
    r: redis.Redis, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 16: a non-UTF-8 entry in ``<identity>-signals`` raised UnicodeDecodeError in the
    heartbeat task, which died silently: Quiet and Stop stopped working (and the keep-alive
    thread blamed a stalled loop). It is logged and ignored; the next signals act."""
    w = make_worker(App(), redis_url)
    task = asyncio.create_task(w.run())
    try:
        await wait_for(lambda: r.sismember(K.processes, w.identity))
        r.lpush(K.signals(w.identity), b"\xff\xfeTSTP")  # popped first (RPOP)
        r.lpush(K.signals(w.identity), "TSTP")
        await wait_for(lambda: r.hget(K.process(w.identity), "quiet") == b"true")
        assert "ignoring unreadable signal" in caplog.text
        r.lpush(K.signals(w.identity), "TERM")
        await asyncio.wait_for(task, 10)
    finally:
        w.stop()
        await asyncio.gather(task, return_exceptions=True)
        await w.aclose()
    assert not r.sismember(K.processes, w.identity)


async def test_os_signals_in_process(r: redis.Redis, redis_url: str) -> None:
    app, release, ran = holding_app()
    push(r, Job.new("Hold", [1]))
    w = make_worker(app, redis_url)
    task = asyncio.create_task(w.run())
    loop = asyncio.get_running_loop()
    try:
        w.install_signal_handlers()
        await wait_for(lambda: ran == [1])
        os.kill(os.getpid(), signal.SIGTSTP)
        await wait_for(lambda: r.hget(K.process(w.identity), "quiet") == b"true")
        release.set()
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(task, 10)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGTSTP, signal.SIGTTIN):
            loop.remove_signal_handler(signum)
        w.stop()
        release.set()
        await asyncio.gather(task, return_exceptions=True)
        await w.aclose()
    assert not r.sismember(K.processes, w.identity)


@pytest.mark.slow
def test_cli_worker_ttin_tstp_term(r: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    log_path = tmp_path / "worker.log"
    for i in range(3):
        push(r, Job.new("SlowJob", [i, 1.5]))
    env = {**os.environ, "WORKER_OUT": str(out), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", "from verk_compat.cli import main; main()", "worker"]
    cmd += ["tests.support.worker_app:app", "--redis-url", redis_url, "-q", "default=2"]
    cmd += ["--beat-interval", "0.2", "-t", "5"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while r.hget(_ident_key(r), "busy") != b"2":
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        ident = _ident(r)
        proc.send_signal(signal.SIGTTIN)
        proc.send_signal(signal.SIGTSTP)
        while r.hget(K.process(ident), "quiet") != b"true":
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log_path.read_text()
    assert proc.returncode == 0, text
    assert "TTIN" in text and "2 running jobs" in text and "class=SlowJob" in text
    assert "verk-job" in text  # the sync job's thread stack
    # Two ran to the end; the third was never fetched (quiet) and is still queued.
    assert len(out.read_text().splitlines()) == 2
    assert r.llen(K.queue("default")) == 1 and not r.sismember(K.processes, ident)


def _ident(r: redis.Redis) -> str:
    members = smembers(r, K.processes)
    return next(iter(members)).decode() if members else "none:0:000000000000"


def _ident_key(r: redis.Redis) -> str:
    return K.process(_ident(r))
