"""In-progress jobs of live and dead identities (``processes``, :class:`InProgress`) and
``verk-compat recover`` against a real Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from tests.support.replies import hset_fields
from verk_compat.api import InProgress, ProcessAlive
from verk_compat.api.values import text
from verk_compat.cli import main
from verk_compat.codec.job import Job
from verk_compat.keys import Keys
from verk_compat.worker.process_info import heartbeat_fields

K = Keys()
DEAD = "deadhost:123:aaaaaaaaaaaa"
LIVE = "livehost:7:bbbbbbbbbbbb"
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, url: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, [*args, "--redis-url", url], env={"REDIS_URL": ""})
    assert result.exit_code == code, result.output
    return result.output


def run_json(*args: str, url: str) -> Any:
    return json.loads(run(*args, "--json", url=url))


def beat(r: redis.Redis, identity: str) -> None:
    info = json.dumps({"identity": identity, "queues": ["default"], "concurrency": 5})
    fields = heartbeat_fields(
        info.encode(), busy=1, quiet=False, beat=time.time() - 1, rss=1, rtt_us=1, concurrency=5
    )
    r.sadd(K.processes, identity)
    hset_fields(r, K.process(identity), fields)


def fetch(r: redis.Redis, queue: str, identity: str, *jobs: bytes) -> None:
    """Enqueue ``jobs`` and fetch them as a worker does (LMOVE RIGHT LEFT), oldest first."""
    r.sadd(K.queues, queue)
    r.lpush(K.queue(queue), *jobs)
    for _ in jobs:
        r.lmove(K.queue(queue), K.inprogress(queue, identity), "RIGHT", "LEFT")


def jobs(*names: str) -> list[bytes]:
    return [Job.new("J", [n]).encode() for n in names]


@pytest.fixture
def fleet(r: redis.Redis) -> dict[str, list[bytes]]:
    """A dead identity (no heartbeat hash) holding jobs of two queues, one with ":" in its
    name, and a live one holding one job."""
    made = {"default": jobs("d1", "d2"), "a:b": jobs("ab1"), "live": jobs("l1")}
    fetch(r, "default", DEAD, *made["default"])
    fetch(r, "a:b", DEAD, *made["a:b"])
    beat(r, LIVE)
    fetch(r, "default", LIVE, *made["live"])
    return made


def test_processes_lists_in_progress_jobs_of_dead_identities(
    redis_url: str, r: redis.Redis, fleet: dict[str, list[bytes]]
) -> None:
    data = run_json("processes", url=redis_url)
    live, dead = data
    assert (live["identity"], live["inprogress"]) == (LIVE, {"default": 1})
    assert dead["identity"] == DEAD and dead["kind"] == "dead"
    assert dead["inprogress"] == {"a:b": 1, "default": 2} and dead["alive"] is False
    jids = [str(Job.decode(raw).jid) for raw in fleet["default"]]
    assert sorted(j["jid"] for j in dead["inprogress_jobs"] if j["queue"] == "default") == sorted(
        jids
    )
    assert {j["class"] for j in dead["inprogress_jobs"]} == {"J"}
    out = run("processes", url=redis_url)
    assert "(1 live)" in out and "in progress (fetched, not acknowledged):" in out
    rows = [line.split() for line in out.splitlines() if line.startswith(DEAD)]
    assert [row[:3] for row in rows] == [[DEAD, "a:b", "1"], [DEAD, "default", "2"]]
    assert all("recover" in " ".join(row) for row in rows)
    assert all(jid in out for jid in jids)
    lists = InProgress(r, K).by_identity()
    assert {e.queue: (e.size, e.alive) for e in lists[DEAD]} == {
        "a:b": (1, False),
        "default": (2, False),
    }


def test_recover_requeues_a_dead_identity_in_fetch_order(
    redis_url: str, r: redis.Redis, fleet: dict[str, list[bytes]]
) -> None:
    out = run("recover", DEAD, url=redis_url)
    assert f"requeued 2 job(s) of {DEAD} to queue default" in out
    assert f"requeued 1 job(s) of {DEAD} to queue a:b" in out
    assert r.keys(f"inprogress:*:{DEAD}") == []
    # The oldest fetched is popped first again, bytes untouched.
    assert [r.rpop(K.queue("default")) for _ in range(2)] == fleet["default"]
    assert r.lrange(K.queue("a:b"), 0, -1) == fleet["a:b"]
    assert r.llen(K.inprogress("default", LIVE)) == 1  # another identity's jobs stay
    again = run_json("recover", DEAD, url=redis_url)
    assert again == {"identity": DEAD, "moved": {}, "total": 0}


def test_recover_refuses_a_live_identity_unless_forced(
    redis_url: str, r: redis.Redis, fleet: dict[str, list[bytes]]
) -> None:
    out = run("recover", LIVE, url=redis_url, code=1)
    assert "is alive" in out and "--force" in out
    assert r.llen(K.inprogress("default", LIVE)) == 1
    with pytest.raises(ProcessAlive):
        InProgress(r, K).recover(LIVE)
    data = run_json("recover", LIVE, "--force", url=redis_url)
    assert data["moved"] == {"default": 1}
    assert r.lrange(K.queue("default"), 0, -1) == fleet["live"]


def test_recover_all_dead_leaves_live_identities(
    redis_url: str, r: redis.Redis, fleet: dict[str, list[bytes]]
) -> None:
    other = "otherhost:9:cccccccccccc"
    fetch(r, "default", other, *jobs("o1"))
    data = run_json("recover", "--all-dead", url=redis_url)
    assert {e["identity"]: e["total"] for e in data} == {DEAD: 3, other: 1}
    assert r.llen(K.queue("default")) == 3 and r.llen(K.queue("a:b")) == 1
    assert r.llen(K.inprogress("default", LIVE)) == 1  # a live identity keeps its job
    assert "no dead identity: no in-progress jobs" in run("recover", "--all-dead", url=redis_url)


def test_an_activejob_in_progress_shows_its_rails_class(redis_url: str, r: redis.Redis) -> None:
    fixture = ROOT / "fixtures" / "sidekiq-6.4.1" / "activejob.json"
    fetch(r, "default", DEAD, json.loads(fixture.read_text())["raw"].encode())
    (dead,) = run_json("processes", url=redis_url)
    assert [j["class"] for j in dead["inprogress_jobs"]] == ["InteropActiveJob"]


@pytest.mark.parametrize("args", [[], [DEAD, "--all-dead"], ["--all-dead", "--force"]])
def test_recover_needs_one_identity_or_all_dead(redis_url: str, args: list[str]) -> None:
    assert "--all-dead alone" in run("recover", *args, url=redis_url, code=2)


def test_a_killed_worker_s_jobs_are_shown_and_recovered(
    redis_url: str, r: redis.Redis, tmp_path: Path
) -> None:
    """A real ``verk-compat worker`` killed with SIGKILL mid-job: once its heartbeat expires,
    its fetched job is in no queue; ``processes`` shows it, ``recover`` puts it back."""
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "WORKER_OUT": str(out), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", "from verk_compat.cli import main; main()", "worker"]
    cmd += ["tests.support.worker_app:app", "--redis-url", redis_url, "-q", "default=1"]
    cmd += ["--heartbeat-ttl", "2", "--beat-interval", "0.5"]
    slow = Job.new("SlowJob", [1, 60]).encode()
    r.lpush(K.queue("default"), slow)
    with (tmp_path / "worker.log").open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not r.keys("inprogress:default:*") or not r.scard(K.processes):
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
            time.sleep(0.05)
        [identity] = [text(i) for i in r.smembers(K.processes)]
        assert "is alive" in run("recover", identity, url=redis_url, code=1)
    finally:
        proc.kill()
        proc.wait(10)
    while r.exists(K.process(identity)):  # the heartbeat hash expires (2 s TTL)
        assert time.monotonic() < deadline + 10
        time.sleep(0.1)
    assert r.llen(K.queue("default")) == 0  # invisible to Ruby: no queue holds it
    [dead] = [p for p in run_json("processes", url=redis_url) if p["identity"] == identity]
    assert dead["kind"] == "dead" and dead["inprogress"] == {"default": 1}
    assert json.loads(run("recover", identity, "--json", url=redis_url))["total"] == 1
    assert r.lrange(K.queue("default"), 0, -1) == [slow]
    assert r.keys("inprogress:*") == []
