"""``verk-compat worker`` logging options: ``--no-log-config``, ``--log-format json``, and the
traceback under a failed job's line (issue 9)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import redis

from verk_compat.codec.job import Job, now
from verk_compat.keys import Keys

K = Keys()
ROOT = Path(__file__).resolve().parents[2]


def run_burst(
    redis_url: str, tmp_path: Path, app: str, *args: str, env_extra: dict[str, str] | None = None
) -> str:
    env = {**os.environ, "WORKER_OUT": str(tmp_path / "out.jsonl"), "PYTHONPATH": str(ROOT)}
    env.update(env_extra or {})
    cmd = [sys.executable, "-c", "from verk_compat.cli import main; main()", "worker", app]
    cmd += ["--redis-url", redis_url, "--burst", *args]
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as out:
        proc = subprocess.run(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=60
        )
    text = log_path.read_text()
    assert proc.returncode == 0, text
    return text


def push(r: redis.Redis, *jobs: Job) -> None:
    for job in jobs:
        r.lpush(K.queue("default"), job.replace(enqueued_at=now()).encode())


def test_no_log_config_keeps_the_users_handlers_files_lines_and_context(
    r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    """The CLI replaced the user's handlers and made file and line ``(unknown file):0``; a
    context variable a middleware set did not reach the sync job's log line."""
    job, boom = Job.new("UserJob", [7]), Job.new("Boom", [], retry=False)
    push(r, job, boom)
    text = run_burst(redis_url, tmp_path, "tests.support.logging_app:app", "--no-log-config")
    assert re.search(rf"^USER INFO logging_app\.py:\d+ rid=req-{job.jid} user line 7$", text, re.M)
    assert "(unknown file)" not in text
    assert re.search(rf"^USER INFO \S+:\d+ rid=- start jid={job.jid} class=UserJob", text, re.M)
    fail = re.search(
        rf"^USER WARNING \S+ rid=req-{boom.jid} fail jid={boom.jid} class=Boom .*\n(.*)", text, re.M
    )
    assert fail, text
    assert re.fullmatch(r"    .*/tests/support/logging_app\.py:\d+:in `boom'", fail[1])


def test_default_logging_keeps_file_line_and_thread_for_the_users_handlers(
    r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    """With the CLI's own logging, a handler the user adds later showed ``(unknown file):0``
    and thread ``None``: the CLI switched off logging's caller and thread lookup globally."""
    job = Job.new("UserJob", [8])
    push(r, job)
    hook = {"LOGGING_APP_HOOK": "1"}
    text = run_burst(redis_url, tmp_path, "tests.support.logging_app:app", env_extra=hook)
    assert re.search(r"^HOOK logging_app\.py:\d+ verk-job-\d+ user line 8$", text, re.M), text
    assert re.search(r" pid=\d+ INFO: user line 8$", text, re.M), text  # the CLI's own line


def test_log_format_json_one_object_per_line_with_the_backtrace(
    r: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    ok, failing = Job.new("HardWorker", [1]), Job.new("FailingJob", [2], retry=False)
    push(r, ok, failing)
    text = run_burst(redis_url, tmp_path, "tests.support.worker_app:app", "--log-format", "json")
    records: list[dict[str, Any]] = [json.loads(line) for line in text.splitlines()]
    assert {rec["level"] for rec in records} <= {"INFO", "WARNING"}
    assert all({"ts", "level", "logger", "pid", "msg"} <= rec.keys() for rec in records)
    msgs = [rec["msg"] for rec in records]
    assert f"start jid={ok.jid} class=HardWorker queue=default" in msgs
    [done] = [rec for rec in records if rec["msg"].startswith(f"done jid={ok.jid} ")]
    assert (done["jid"], done["class"], done["queue"]) == (ok.jid, "HardWorker", "default")
    assert isinstance(done["ms"], float)
    [fail] = [rec for rec in records if rec["msg"].startswith(f"fail jid={failing.jid} ")]
    assert (fail["jid"], fail["class"], fail["queue"]) == (failing.jid, "FailingJob", "default")
    assert "\n" not in fail["msg"] and fail["msg"].endswith("-> discard")
    assert "error=RuntimeError: failing on purpose: (2,)" in fail["msg"]
    assert re.fullmatch(
        r".*/tests/support/worker_app\.py:\d+:in `failing_job'", fail["backtrace"][0]
    )


def test_log_backtrace_limits_the_frames(r: redis.Redis, redis_url: str, tmp_path: Path) -> None:
    failing = Job.new("FailingJob", [3], retry=False)
    push(r, failing)
    text = run_burst(redis_url, tmp_path, "tests.support.worker_app:app", "--log-backtrace", "0")
    assert f"fail jid={failing.jid} class=FailingJob" in text
    assert not any(line.startswith("    ") for line in text.splitlines())
