"""``verk-compat cron list|enable|disable|run-now`` against a real Redis."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
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

ROOT = Path(__file__).resolve().parents[2]


def start(redis_url: str, out: Path, *args: str) -> subprocess.Popen[bytes]:
    """``verk-compat worker tests.support.worker_app:app`` (jobs append to ``out``)."""
    env = {**os.environ, "WORKER_OUT": str(out), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", "from verk_compat.cli import main; main()", "worker"]
    cmd += ["tests.support.worker_app:app", "--redis-url", redis_url, *args]
    log = out.with_suffix(".log").open("wb")
    try:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()


def finish(proc: subprocess.Popen[bytes], out: Path) -> str:
    proc.wait(30)
    return out.with_suffix(".log").read_text()


def lines(out: Path) -> list[dict[str, Any]]:
    text = out.read_text() if out.exists() else ""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


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


def test_worker_runs_a_schedule_file(redis_url: str, r: redis.Redis, tmp_path: Path) -> None:
    schedule = tmp_path / "schedule.yml"
    schedule.write_text("tick:\n  cron: '* * * * * *'\n  class: HardWorker\n  args: [42]\n")
    out = tmp_path / "out.jsonl"
    proc = start(redis_url, out, "--cron-schedule", str(schedule), "--cron-interval", "0.3")
    deadline = time.monotonic() + 30
    try:
        while len(lines(out)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        text = finish(proc, out)
    assert proc.returncode == 0, text
    assert lines(out)[0] == {"class": "HardWorker", "args": [42]}
    assert r.hget("cron_job:tick", "klass") == b"HardWorker"


def test_worker_refuses_a_bad_schedule_file(redis_url: str, tmp_path: Path) -> None:
    schedule = tmp_path / "bad.toml"
    schedule.write_text('[x]\ncron = "every day"\nclass = "A"\n')
    out = tmp_path / "out.jsonl"
    proc = start(redis_url, out, "--cron-schedule", str(schedule))
    text = finish(proc, out)
    assert proc.returncode == 2 and "invalid cron string 'every day'" in text
