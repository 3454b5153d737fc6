"""Chaos suite: 5,000 jobs over 3 queues, one worker SIGKILLed three times at random moments and
restarted, Redis restarted in the middle; then drain. Every job must have run at least once;
duplicates (a job killed after its work but before its ack runs again) are counted, not hidden.

Runs two ``verk-compat worker`` subprocesses (so SIGKILL is real) against a dedicated
redis-server (so the session's server is untouched). Redis is restarted the way a production
Redis is: with persistence. ``CONFIG SET save`` makes the clean shutdown write an RDB snapshot
that the restarted server loads; without persistence a Redis restart loses every queued job by
design, and no client can prevent that (docs/RELIABILITY.md). Jobs record their runs in a file,
not in Redis, so the record survives the restart. ``CHAOS_SEED`` replays a run's moments.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.replies import smembers
from tests.support.worker_app import runs
from verk_compat.codec.job import Job, now
from verk_compat.devtools.redis_server import EmbeddedRedis
from verk_compat.keys import Keys

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

K = Keys()
ROOT = Path(__file__).resolve().parents[2]
TOTAL = 5000
QUEUES = ("chaos_a", "chaos_b", "chaos_c")
JOB_SECONDS = 0.01
KILLS = 3
WORKER_ARGS = [
    *[a for q in QUEUES for a in ("-q", f"{q}=3")],
    *("--heartbeat-ttl", "3", "--beat-interval", "0.3", "--orphan-interval", "1"),
    *("--shutdown-timeout", "5", "--log-level", "warning"),
]


def start_worker(redis_url: str, out: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "WORKER_OUT": str(out), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", "from verk_compat.cli import main; main()", "worker"]
    cmd += ["tests.support.worker_app:app", "--redis-url", redis_url, *WORKER_ARGS]
    with log.open("ab") as fh:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except redis.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"chaos: {what} not reached in {timeout}s")
        time.sleep(0.05)


def alive(r: redis.Redis, pid: int) -> bool:
    """The worker process ``pid`` has beaten (its identity is in ``processes``)."""
    return any(f":{pid}:" in member.decode() for member in smembers(r, K.processes))


def plan(rng: random.Random) -> list[tuple[float, str]]:
    """Progress fractions at which to kill (three times) and restart Redis (once)."""
    while True:
        kills = sorted(rng.uniform(0.08, 0.8) for _ in range(KILLS))
        restart = rng.uniform(0.35, 0.65)
        moments = sorted([*kills, restart])
        if all(b - a > 0.06 for a, b in itertools.pairwise(moments)):
            return sorted([(k, "kill") for k in kills] + [(restart, "redis")])


@pytest.mark.timeout(170)
def test_kill_workers_and_restart_redis_under_load(tmp_path: Path) -> None:
    seed = int(os.environ.get("CHAOS_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    out = tmp_path / "runs.jsonl"
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    began = time.monotonic()
    with EmbeddedRedis() as server:
        r = redis.Redis.from_url(server.url)
        r.config_set("save", "3600 1")  # the clean shutdown writes an RDB snapshot
        stamp = now()
        pipe = r.pipeline(transaction=False)
        for i in range(TOTAL):
            job = Job.new("SlowJob", [i, JOB_SECONDS], queue=QUEUES[i % len(QUEUES)])
            pipe.lpush(K.queue(job.queue or ""), job.replace(enqueued_at=stamp).encode())
        pipe.execute()
        stable = start_worker(server.url, out, logs[0])
        victim = start_worker(server.url, out, logs[1])
        kills = restarts = in_flight_at_kills = stranded = 0
        try:
            for fraction, event in plan(rng):
                wait_until(lambda f=fraction: len(runs(out)) >= f * TOTAL, 60, f"{fraction:.0%}")
                if event == "kill":
                    in_flight_at_kills += sum(
                        int(r.llen(k)) for k in r.keys(f"inprogress:*:*:{victim.pid}:*")
                    )
                    victim.kill()
                    victim.wait(5)
                    kills += 1
                    time.sleep(rng.uniform(0.0, 0.5))
                    victim = start_worker(server.url, out, logs[1])
                    # Up (beating) before the next event, so that every worker incarnation
                    # the Redis restart hits is a running one.
                    wait_until(lambda p=victim.pid: alive(r, p), 30, "restarted worker up")
                else:
                    server.stop()
                    time.sleep(1.0)  # both workers see a dead Redis for a while
                    server.start()
                    restarts += 1
            # Drain: every job ran, or the queues are empty and nothing moved for 5 s (jobs left
            # in a live worker's in-progress list after a lost fetch reply: "stranded").
            progress = {"n": -1, "at": time.monotonic()}

            def drained() -> bool:
                n = len(runs(out))
                if n != progress["n"]:
                    progress.update(n=n, at=time.monotonic())
                idle = sum(int(r.llen(K.queue(q))) for q in QUEUES) == 0 and (
                    time.monotonic() - progress["at"] > 5
                )
                return (n == TOTAL and not r.keys("inprogress:*")) or idle

            wait_until(drained, 90, "drain")
            stranded = TOTAL - len(runs(out))
        finally:
            for proc in (stable, victim):
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            codes = [proc.wait(20) for proc in (stable, victim)]
        left = r.keys("inprogress:*") + [k for q in QUEUES if r.llen(k := K.queue(q))]
        r.close()
    seconds = time.monotonic() - began
    counts = runs(out)
    duplicates = sum(counts.values()) - len(counts)
    print(
        f"\nCHAOS jobs={TOTAL} queues={len(QUEUES)} kills={kills} redis_restarts={restarts} "
        f"in_flight_at_kills={in_flight_at_kills} ran={sum(counts.values())} "
        f"duplicates={duplicates} lost={TOTAL - len(counts)} stranded={stranded} "
        f"seconds={seconds:.1f} seed={seed}"
    )
    # A fetch whose reply was lost (Redis restarted under it) is reconciled by the live worker:
    # no job waits for a restart.
    assert stranded == 0, f"{stranded} jobs stranded in a live worker's in-progress list"
    assert set(counts) == set(range(TOTAL)), "a job was lost"
    assert left == [], left
    assert (kills, restarts) == (KILLS, 1)
    assert codes == [0, 0]
    # The workers noticed the outage, said so, and went on (the drain above proves "went on").
    for log in logs:
        text = log.read_text()
        assert "retrying" in text, f"{log.name} did not log the outage:\n{text[-3000:]}"
        assert "Redis reachable again" in text, f"{log.name} did not log the recovery"
    assert duplicates <= in_flight_at_kills + KILLS * 9
