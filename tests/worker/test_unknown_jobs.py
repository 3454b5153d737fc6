"""The unknown-class policy: the pure decision, and a worker handing a job back to its queue."""

from __future__ import annotations

import asyncio
import json
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

from tests.support.replies import zmembers
from verk_compat.codec.job import Job, now
from verk_compat.keys import Keys
from verk_compat.worker.app import App
from verk_compat.worker.launcher import Worker
from verk_compat.worker.unknown_jobs import (
    MAX_PAUSE,
    Fail,
    HandBack,
    check_policy,
    decide,
    worker_policy,
)

K = Keys()
ROOT = Path(__file__).resolve().parents[2]


def test_fail_policy_fails() -> None:
    assert decide("fail", 0) == Fail()
    assert decide("fail", 9) == Fail()


def test_requeue_pause_doubles_up_to_the_cap() -> None:
    pauses = [decide("requeue", n).pause for n in range(10)]  # type: ignore[union-attr]
    assert pauses == [0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, MAX_PAUSE, MAX_PAUSE]
    assert decide("requeue", 10**9) == HandBack(MAX_PAUSE)


def test_bad_policy_is_named() -> None:
    with pytest.raises(ValueError, match="'retry'"):
        check_policy("retry")
    with pytest.raises(ValueError, match="must be one of"):
        decide("retry", 0)  # type: ignore[arg-type]


def test_worker_policy_defaults() -> None:
    assert worker_policy(None, burst=False) == "requeue"
    assert worker_policy(None, burst=True) == "fail"
    assert worker_policy("fail", burst=False) == "fail"
    with pytest.raises(ValueError, match="burst"):
        worker_policy("requeue", burst=True)


async def _run_until(worker: Worker, done: Any, timeout: float = 20) -> None:
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(timeout):
            while not done():
                await asyncio.sleep(0.05)
    finally:
        worker.stop()
        await task
        await worker.aclose()


async def test_unknown_job_goes_back_to_its_queue_untouched(r: redis.Redis, redis_url: str) -> None:
    ran: list[int] = []
    app = App()

    @app.job("Known")
    def known(n: int) -> None:
        ran.append(n)

    unknown = Job.new("RubyOnly", [1, "x"]).replace(enqueued_at=now()).encode()
    r.lpush(K.queue("default"), Job.new("Known", [1]).encode(), unknown)
    r.lpush(K.queue("default"), Job.new("Known", [2]).encode())
    worker = Worker(app, {"default": 2}, redis_url=redis_url, block_timeout=0.2)
    assert worker.processor.unknown_jobs.policy == "requeue"
    await _run_until(worker, lambda: len(ran) == 2 and r.llen(K.queue("default")) == 1)
    # The worker's own jobs ran; the unknown one is back in the queue, byte for byte, and was
    # neither failed nor counted.
    assert sorted(ran) == [1, 2]
    assert r.lrange(K.queue("default"), 0, -1) == [unknown]
    assert zmembers(r, K.retry) == [] and zmembers(r, K.dead) == []
    assert int(r.get(K.stat_failed) or 0) == 0
    assert r.keys("inprogress:*") == []


async def test_fail_policy_retries_as_unknown_job(r: redis.Redis, redis_url: str) -> None:
    r.lpush(K.queue("default"), Job.new("RubyOnly", []).encode())
    worker = Worker(App(), {"default": 1}, redis_url=redis_url, unknown_jobs="fail")
    await _run_until(worker, lambda: r.zcard(K.retry) == 1)
    [retried] = [Job.decode(m) for m in zmembers(r, K.retry)]
    assert retried.error_class == "verk_compat.UnknownJob"


def _cli_worker(redis_url: str, out: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "WORKER_OUT": str(out), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", "from verk_compat.cli import main; main()", "worker"]
    cmd += ["tests.support.worker_app:app", "--redis-url", redis_url, *args]
    with out.with_suffix(".log").open("wb") as log:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def test_cli_flag_requeue_and_burst_refusal(r: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    refused = _cli_worker(redis_url, out, "--burst", "--unknown-jobs", "requeue")
    assert refused.wait(30) == 2
    assert "never drain" in out.with_suffix(".log").read_text()
    unknown = Job.new("RubyOnly", [1]).encode()
    r.lpush(K.queue("default"), unknown, Job.new("HardWorker", [2]).encode())
    proc = _cli_worker(redis_url, out, "--unknown-jobs", "requeue", "-q", "default=2")
    try:
        deadline = time.monotonic() + 30
        while not (out.exists() and r.lrange(K.queue("default"), 0, -1) == [unknown]):
            assert time.monotonic() < deadline, out.with_suffix(".log").read_text()
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert r.zcard(K.retry) == 0 and r.lrange(K.queue("default"), 0, -1) == [unknown]
    assert "RubyOnly is not registered" in out.with_suffix(".log").read_text()


async def test_stop_ends_the_pause(r: redis.Redis, redis_url: str) -> None:
    """A queue pausing after hand-backs (up to 5 s) does not hold a graceful stop."""
    unknown = Job.new("RubyOnly", []).encode()
    r.lpush(K.queue("default"), unknown)
    worker = Worker(App(), {"default": 1}, redis_url=redis_url, block_timeout=0.2)
    worker.processor.unknown_jobs.in_a_row["default"] = 99  # the longest pause next
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(10):
            while r.llen(K.queue("default")) == 0 or not worker.processor.unknown_jobs.in_a_row:
                await asyncio.sleep(0.02)
            while worker.processor.unknown_jobs.in_a_row["default"] < 100:
                await asyncio.sleep(0.02)
        worker.stop()
        async with asyncio.timeout(MAX_PAUSE - 1):  # would hang for the whole pause otherwise
            await task
    finally:
        await worker.aclose()
    assert r.lrange(K.queue("default"), 0, -1) == [unknown]


async def test_unregistered_rails_job_is_handed_back_under_its_rails_name(
    r: redis.Redis, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An ActiveJob wrapper whose Rails class the app does not register is a Ruby job too."""
    fixture = ROOT / "fixtures" / "sidekiq-6.4.1" / "activejob.json"
    raw = json.loads(fixture.read_text())["raw"].encode()
    r.lpush(K.queue("default"), raw)
    worker = Worker(App(), {"default": 1}, redis_url=redis_url, block_timeout=0.2)
    with caplog.at_level(logging.WARNING, logger="verk_compat.worker.unknown_jobs"):
        await _run_until(worker, lambda: bool(worker.processor.unknown_jobs.in_a_row))
    assert r.lrange(K.queue("default"), 0, -1) == [raw] and r.zcard(K.retry) == 0
    assert "class InteropActiveJob is not registered" in caplog.text


async def test_a_lone_unknown_job_does_not_spin_or_show_as_started(
    r: redis.Redis, redis_url: str
) -> None:
    """25 free slots and one unknown job: the queue's fetching pauses (0, 0.05, 0.1, ... s),
    so two seconds see a handful of hand-backs, not one per slot; none is announced as a
    started job, and no slot is held."""
    app = App()
    started: list[object] = []
    app.events.subscribe(started.append)
    r.lpush(K.queue("default"), Job.new("RubyOnly", []).encode())
    worker = Worker(app, {"default": 25}, redis_url=redis_url, block_timeout=0.2)
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(2.0)
        assert worker.busy == 0
        handed = worker.processor.unknown_jobs.in_a_row["default"]
    finally:
        worker.stop()
        await task
        await worker.aclose()
    assert 3 <= handed <= 10, handed
    assert started == []
    assert r.llen(K.queue("default")) == 1 and r.zcard(K.retry) == 0


async def test_the_pause_is_per_queue_and_a_job_that_runs_ends_it(
    r: redis.Redis, redis_url: str
) -> None:
    r.lpush(K.queue("default"), Job.new("RubyOnly", []).encode())
    worker = Worker(App(), {"default": 2, "other": 1}, redis_url=redis_url, block_timeout=0.2)
    unknown = worker.processor.unknown_jobs
    unknown.in_a_row["default"] = 3  # a 0.2 s pause after the next hand-back
    await _run_until(worker, lambda: unknown.in_a_row.get("default", 0) > 3)
    assert unknown.pause_left("default") > 0 and unknown.pause_left("other") == 0.0
    unknown.ran("default")
    assert unknown.pause_left("default") == 0.0 and "default" not in unknown.in_a_row


async def test_a_job_class_is_resolved_once_per_job(r: redis.Redis, redis_url: str) -> None:
    """The unknown-class check resolves the job, and that resolution is the one that runs: a
    job class is instantiated once per job, as Sidekiq does."""
    made: list[int] = []
    app = App()

    @app.job("Counted")
    class Counted:
        def __init__(self) -> None:
            made.append(1)

        def perform(self, n: int) -> None:
            pass

    r.lpush(K.queue("default"), *(Job.new("Counted", [n]).encode() for n in range(3)))
    worker = Worker(app, {"default": 2}, redis_url=redis_url, block_timeout=0.2)
    assert worker.processor.unknown_jobs.policy == "requeue"
    await _run_until(worker, lambda: int(r.get(K.stat_processed) or 0) >= 3)
    assert len(made) == 3
