"""``verk-compat retries show JID`` / ``dead show JID``: the whole entry, backtrace decoded
(issue 9: ``retries list`` cut the error at 50 characters and nothing showed a backtrace)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import redis
from click.testing import CliRunner

from verk_compat.cli import main
from verk_compat.codec.backtrace import decode_backtrace
from verk_compat.codec.job import Job, now
from verk_compat.keys import Keys
from verk_compat.worker.app import App
from verk_compat.worker.launcher import Worker

K = Keys()
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def run(*args: str, url: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, [*args, "--redis-url", url])
    assert result.exit_code == code, result.output
    return result.output


def test_retries_show_decodes_a_sidekiq_backtrace(redis_url: str, r: redis.Redis) -> None:
    """An entry Ruby Sidekiq 7.3.10 wrote (``backtrace: 10``, compressed and base64)."""
    recorded = json.loads((FIXTURES / "sidekiq-7.3.10" / "retry_backtrace_10.json").read_text())
    r.zadd(K.retry, {recorded["raw"]: recorded["score"]})
    stored = json.loads(recorded["raw"])
    frames = decode_backtrace(stored["error_backtrace"])
    assert frames
    out = run("retries", "show", stored["jid"], url=redis_url)
    assert out.startswith("retry at: 20")
    assert '"error_message": "with 10 backtrace lines"' in out
    assert '"error_class": "Interop::CustomError"' in out
    assert f'"error_backtrace": "({len(frames)} lines, decoded below)"' in out
    assert out.endswith("error_backtrace:\n" + "".join(f"  {f}\n" for f in frames))
    data = json.loads(run("retries", "show", stored["jid"], "--json", url=redis_url))
    assert data["set"] == "retry" and data["score"] == recorded["score"]
    assert data["payload"] == stored and data["backtrace"] == frames
    missing = run("retries", "show", "0" * 24, url=redis_url, code=1)
    assert f"no job with jid {'0' * 24} in retry" in missing


async def test_dead_show_a_python_jobs_backtrace_and_long_error(
    redis_url: str, r: redis.Redis
) -> None:
    app = App()
    long_message = "a very long error message " * 10

    @app.job("Boom")
    def boom() -> None:
        raise ValueError(long_message)

    job = Job.new("Boom", [], retry=0, backtrace=True)
    r.lpush(K.queue("default"), job.replace(enqueued_at=now()).encode())
    w = Worker(app, {"default": 1}, redis_url=redis_url, burst=True, block_timeout=0.2)
    try:
        await asyncio.wait_for(w.run(), 20)
    finally:
        await w.aclose()
    assert r.zcard(K.dead) == 1
    out = await asyncio.to_thread(run, "dead", "show", str(job.jid), url=redis_url)
    assert out.startswith("died at: 20")
    assert json.dumps(long_message) in out  # whole, not cut at 50 characters
    tail = out.split("error_backtrace:\n", 1)[1].splitlines()
    assert tail[0].startswith(f"  {__file__}:") and tail[0].endswith(":in `boom'")
    data: dict[str, Any] = json.loads(
        await asyncio.to_thread(run, "dead", "show", str(job.jid), "--json", url=redis_url)
    )
    assert data["backtrace"][0] == tail[0].strip()


def test_dead_show_a_verk_entry_plain_text_backtrace(redis_url: str, r: redis.Redis) -> None:
    """Verk 1.7.3 stores its backtrace as plain text, one frame a line (recorded entries)."""
    recorded = json.loads((FIXTURES / "verk-1.7.3" / "04-retry-requeued.json").read_text())
    members = recorded["dead"]["members"]
    r.zadd(K.dead, {m["text"]: m["score"] for m in members})
    for member in members:
        stored = json.loads(member["text"])
        data = json.loads(run("dead", "show", stored["jid"], "--json", url=redis_url))
        lines = [ln.strip() for ln in stored["error_backtrace"].splitlines() if ln.strip()]
        assert data["payload"] == stored and data["backtrace"] == (
            lines if stored["error_backtrace"] else None
        )
    elixir = [m for m in members if "lib/process.ex" in m["text"]]
    assert elixir
    jid = json.loads(elixir[0]["text"])["jid"]
    out = run("dead", "show", jid, url=redis_url)
    assert "\n  (elixir 1.14.0) lib/process.ex:773: Process.info/2\n" in out
