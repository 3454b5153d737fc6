"""``verk-compat worker`` as a subprocess: burst, TERM/INT shutdown, kill -9 and recovery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import pytest
import redis
from click.testing import CliRunner

from tests.support.replies import smembers, zmembers
from verk_compat.cli import main
from verk_compat.cli.worker import parse_queue
from verk_compat.codec.job import Job, now
from verk_compat.keys import Keys

K = Keys()
ROOT = Path(__file__).resolve().parents[2]


def start(redis_url: str, out: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "WORKER_OUT": str(out), "PYTHONPATH": str(ROOT)}
    boot = "from verk_compat.cli import main; main()"
    cmd = [sys.executable, "-c", boot, "worker", "tests.support.worker_app:app"]
    cmd += ["--redis-url", redis_url, *args]
    # A log file, not a pipe: an unread pipe would fill up and block the worker's logging.
    log_path = out.with_suffix(f".{time.monotonic_ns()}.log")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    LOGS[proc.pid] = log_path
    return proc


LOGS: dict[int, Path] = {}


def finish(proc: subprocess.Popen[bytes], timeout: float = 30) -> str:
    proc.wait(timeout)
    return LOGS[proc.pid].read_text()


def lines(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def push(r: redis.Redis, jobs: list[Job]) -> None:
    stamp = now()
    pipe = r.pipeline(transaction=False)
    for job in jobs:
        pipe.lpush(K.queue(job.queue or "default"), job.replace(enqueued_at=stamp).encode())
    pipe.execute()


def wait_until(predicate: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.05)


def test_burst_runs_and_logs_each_job(r: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    push(r, [Job.new("HardWorker", [i, "x"]) for i in range(5)])
    push(r, [Job.new("AsyncWorker", [{"a": 1}], queue="critical")])
    proc = start(redis_url, out, "--burst", "-q", "default=3", "-q", "critical=2")
    text = finish(proc)
    assert proc.returncode == 0, text
    assert sorted(tuple(map(str, j["args"])) for j in lines(out)) == sorted(
        [(str(i), "x") for i in range(5)] + [("{'a': 1}",)]
    )
    assert text.count(" start jid=") == 6 and text.count(" done jid=") == 6
    assert "class=AsyncWorker queue=critical ms=" in text
    assert r.keys("inprogress:*") == [] and r.scard(K.processes) == 0


def test_term_requeues_unfinished_jobs(r: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    push(r, [Job.new("SlowJob", [i, 5]) for i in range(4)])
    proc = start(redis_url, out, "-q", "default=2", "--shutdown-timeout", "0.5")
    wait_until(lambda: r.llen(K.queue("default")) == 2)
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    text = finish(proc, 15)
    assert proc.returncode == 0, text
    assert r.llen(K.queue("default")) == 4
    assert r.keys("inprogress:*") == [] and r.scard(K.processes) == 0


def test_second_interrupt_exits_at_once_keeping_jobs(
    r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    push(r, [Job.new("SlowJob", [i, 5]) for i in range(2)])
    proc = start(redis_url, out, "-q", "default=2", "--shutdown-timeout", "20")
    wait_until(lambda: r.llen(K.queue("default")) == 0)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    finish(proc, 5)
    assert proc.returncode != 0
    [key] = r.keys("inprogress:*")
    assert r.llen(key) == 2


@pytest.mark.slow
def test_kill_9_then_restart_loses_nothing(r: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    total = 2000
    push(r, [Job.new("SlowJob", [i, 0.004]) for i in range(total)])
    fast_beat = ("--heartbeat-ttl", "2", "--beat-interval", "0.5")
    proc = start(redis_url, out, "-q", "default=10", *fast_beat)
    wait_until(lambda: len(lines(out)) >= 400)
    proc.kill()
    finish(proc, 5)
    [key] = r.keys("inprogress:*")
    assert r.llen(key) > 0, "the kill should leave jobs in progress"
    # The dead process's heartbeat hash expires (2 s TTL here); then the next worker recovers.
    time.sleep(2.5)
    again = start(redis_url, out, "-q", "default=10", "--burst", *fast_beat)
    text = finish(again, 60)
    assert again.returncode == 0, text[-2000:]
    seen = {j["args"][0] for j in lines(out)}
    assert seen == set(range(total))
    assert r.llen(K.queue("default")) == 0 and r.keys("inprogress:*") == []


def parent_of(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_processes_forks_workers_and_forwards_term(
    r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    """``--processes 2``: two children with their own identities share the queue; TERM to the
    parent reaches both, each shuts down cleanly, and the parent exits 0 leaving no process."""
    out = tmp_path / "out.jsonl"
    total = 40
    push(r, [Job.new("SlowJob", [i, 0.05]) for i in range(total)])
    proc = start(redis_url, out, "--processes", "2", "-q", "default=2", "--beat-interval", "0.2")
    try:
        wait_until(lambda: r.scard(K.processes) == 2)
        identities = sorted(m.decode() for m in smembers(r, K.processes))
        pids = {int(identity.split(":")[-2]) for identity in identities}
        assert len(pids) == 2 and proc.pid not in pids, identities
        assert {parent_of(pid) for pid in pids} == {proc.pid}
        wait_until(lambda: len(lines(out)) == total)
        time.sleep(0.3)  # idle now, blocked on the empty queue
        proc.send_signal(signal.SIGTERM)
        text = finish(proc, 30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, text[-3000:]
    assert sorted(j["args"][0] for j in lines(out)) == list(range(total))
    for pid in pids:
        assert text.count(f"pid={pid} INFO: shutting down") == 1, text[-3000:]
        assert f"pid={pid} INFO: done jid=" in text, f"child {pid} ran no job"
        assert not alive(pid), f"child {pid} outlived its parent"
    assert r.scard(K.processes) == 0 and r.keys("inprogress:*") == []


def test_processes_burst_exits_when_drained(r: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    push(r, [Job.new("HardWorker", [i]) for i in range(20)])
    proc = start(redis_url, out, "--processes", "2", "--burst", "-q", "default=3")
    text = finish(proc, 30)
    assert proc.returncode == 0, text[-3000:]
    assert sorted(j["args"][0] for j in lines(out)) == list(range(20))
    assert text.count("INFO: shutting down") == 2
    assert r.scard(K.processes) == 0 and r.keys("inprogress:*") == []


def test_profile_sidekiq8_writes_integer_ms_failure_times(
    r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    push(r, [Job.new("FailingJob", [1])])
    proc = start(redis_url, tmp_path / "out.jsonl", "--burst", "--profile", "sidekiq8")
    text = finish(proc)
    assert proc.returncode == 0, text
    (member,) = zmembers(r, K.retry)
    wire = json.loads(member)
    assert isinstance(wire["failed_at"], int) and wire["failed_at"] > 10**12
    assert wire["retry_count"] == 0 and wire["error_class"] == "RuntimeError"


def test_job_timeout_fails_a_slow_job_once(r: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    push(r, [Job.new("SlowJob", [1, 1.5]), Job.new("SlowJob", [2, 0.0])])
    proc = start(redis_url, out, "--burst", "-q", "default=1", "--job-timeout", "0.3")
    text = finish(proc)
    assert proc.returncode == 0, text
    (member,) = zmembers(r, K.retry)
    failed = Job.decode(member)
    assert (failed.args, failed.error_class) == ([1, 1.5], "verk_compat.JobTimeout")
    # The timed-out thread ran to its end before the next job took its slot.
    assert [j["args"][0] for j in lines(out)] == [1, 2]
    assert "its thread cannot be stopped" in text
    assert r.keys("inprogress:*") == []


def test_job_timeout_must_not_be_negative(redis_url: str, tmp_path: Path) -> None:
    proc = start(redis_url, tmp_path / "out.jsonl", "--burst", "--job-timeout", "-1")
    text = finish(proc)
    assert proc.returncode == 2 and "--job-timeout" in text


@pytest.mark.parametrize("text", ["critical,2", "critical,2=5", "a,b"])
def test_sidekiq_weight_syntax_is_refused_naming_the_accepted_form(text: str) -> None:
    with pytest.raises(click.BadParameter, match=r"NAME,WEIGHT.*--queue critical=N|--queue a=N"):
        parse_queue(text)


def test_queue_with_weight_is_refused_on_the_command_line(redis_url: str) -> None:
    args = ["worker", "tests.support.worker_app:app", "--burst", "--redis-url", redis_url]
    result = CliRunner().invoke(main, [*args, "-q", "critical,2"])
    assert result.exit_code == 2
    assert "--queue critical=N" in result.output


@pytest.mark.parametrize(
    ("text", "parsed"), [("default", ("default", 25)), ("critical=3", ("critical", 3))]
)
def test_queue_name_and_concurrency(text: str, parsed: tuple[str, int]) -> None:
    assert parse_queue(text) == parsed


def start_in_own_group(redis_url: str, out: Path, *args: str) -> subprocess.Popen[bytes]:
    """A worker as a shell starts it: the leader of a process group a terminal's Ctrl-C
    (SIGINT to the whole foreground group) would reach."""
    env = {**os.environ, "WORKER_OUT": str(out), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "verk_compat", "worker", "tests.support.worker_app:app"]
    log_path = out.with_suffix(f".{time.monotonic_ns()}.log")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*cmd, "--redis-url", redis_url, *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    LOGS[proc.pid] = log_path
    return proc


def busy_children(r: redis.Redis) -> int:
    return sum(r.llen(key) for key in r.keys("inprogress:*"))


def test_ctrl_c_with_processes_is_graceful(r: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    """Issue 9 item 10: each child used to see the terminal's SIGINT and the parent's
    forwarded one, i.e. two interrupts, and exited at once leaving its job unfinished."""
    out = tmp_path / "out.jsonl"
    push(r, [Job.new("SlowJob", [i, 2]) for i in range(2)])
    proc = start_in_own_group(redis_url, out, "--processes", "2", "-q", "default=1")
    try:
        wait_until(lambda: r.llen(K.queue("default")) == 0 and busy_children(r) == 2)
        os.killpg(proc.pid, signal.SIGINT)
        text = finish(proc, 30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, text[-3000:]
    assert sorted(j["args"][0] for j in lines(out)) == [0, 1], text[-3000:]
    assert "second interrupt" not in text
    assert r.keys("inprogress:*") == [] and r.scard(K.processes) == 0


def test_second_ctrl_c_with_processes_stops_at_once(
    r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    push(r, [Job.new("SlowJob", [i, 30]) for i in range(2)])
    args = ("--processes", "2", "-q", "default=1", "--shutdown-timeout", "60")
    proc = start_in_own_group(redis_url, out, *args)
    try:
        wait_until(lambda: r.llen(K.queue("default")) == 0 and busy_children(r) == 2)
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.5)
        assert proc.poll() is None, "the first Ctrl-C must wait for the jobs"
        os.killpg(proc.pid, signal.SIGINT)
        text = finish(proc, 10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0
    assert text.count("second interrupt: exiting now") == 2, text[-3000:]
    assert lines(out) == [] and busy_children(r) == 2  # the jobs stay protected
