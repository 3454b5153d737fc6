"""Worker throughput: one Python worker process vs Ruby ``sidekiq -c 10`` on the same Redis.

Usage: ``.venv/bin/python bench/worker.py [--jobs 100000] [--concurrency 25] [--repeat 1]
[--processes N]``

For each contender, 100,000 no-op jobs are pushed to ``queue:default`` of a private
``redis-server``; then the worker is started with its default logging (to a file) and timed
from the first job leaving the queue until the queue is empty and every job is acknowledged.
Contenders: the Python worker with an ``async def`` job, the Python worker with a plain ``def``
job (thread pool), and Ruby Sidekiq 6.4.1 (``sidekiq -c 10``). Prints jobs/s, peak RSS and the
ratios to Ruby, and the CPU Redis used per second of the run (``INFO cpu``), which shows
whether the worker or Redis is the limit. With ``--repeat N`` each Python contender runs N
times (interleaved, so a busy machine slows all of them alike) and the median run is shown;
Ruby runs once. ``--processes N`` adds a scaling table: the async worker with ``--processes``
1 to N against the same Redis (on this 2-core VM, N > 2 measures contention, not scaling).

This file is also the job module the Python worker imports (``worker:app``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from verk_compat.worker.app import App  # noqa: E402

app = App()


@app.job("NoopAsync")
async def noop_async(*_args: Any) -> None:
    return None


@app.job("NoopSync")
def noop_sync(*_args: Any) -> None:
    return None


# redis-rb 4.8 prints a deprecation warning (with a caller lookup) on every BRPOP that
# Sidekiq 6.4.1 issues; silenced so Ruby is measured at its real speed, not its warnings'.
RUBY_JOB = """
require "sidekiq"
Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)
class NoopSync
  include Sidekiq::Worker
  def perform(*args); end
end
"""


def push(redis_url: str, class_name: str, total: int) -> None:
    """Pipelined LPUSH of ``total`` payloads built by the codec (batches of 1,000)."""
    import redis

    from verk_compat.codec.job import Job, now

    client = redis.Redis.from_url(redis_url)
    client.flushall()
    stamp = now()
    for start in range(0, total, 1000):
        batch = [
            Job.new(class_name, [i]).replace(enqueued_at=stamp).encode()
            for i in range(start, min(start + 1000, total))
        ]
        client.lpush("queue:default", *batch)
    client.sadd("queues", "default")
    client.close()


def drain(redis_url: str, cmd: list[str], total: int, env: dict[str, str]) -> dict[str, Any]:
    """Start ``cmd``, time the drain of ``queue:default``, stop it, return the figures."""
    import redis

    client = redis.Redis.from_url(redis_url)
    cpu_before = _redis_cpu(client)
    log = Path(tempfile.mkdtemp(prefix="bench-worker-")) / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=HERE)
    while client.llen("queue:default") >= total:
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd[0]} exited early; see {log}")
        time.sleep(0.002)
    started = time.perf_counter()
    while client.llen("queue:default") > 0 or _in_progress(client) > 0:
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    redis_cpu = (_redis_cpu(client) - cpu_before) / elapsed
    rss = _peak_rss_kb(proc.pid)
    proc.terminate()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    client.close()
    return {
        "seconds": elapsed,
        "jobs_s": total / elapsed,
        "rss_mb": max(rss, usage.ru_maxrss) / 1024,
        "redis_cpu": redis_cpu,
    }


def _redis_cpu(client: Any) -> float:
    """Seconds of CPU the Redis server has used so far (user + system, all its threads)."""
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _in_progress(client: Any) -> int:
    keys = client.keys("inprogress:*")
    return sum(client.llen(k) for k in keys)


def _peak_rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=25)
    parser.add_argument("--skip-ruby", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="Python runs each (median shown).")
    parser.add_argument("--processes", type=int, default=0, help="Scale the async worker 1..N.")
    opts = parser.parse_args()

    from verk_compat.devtools.redis_server import EmbeddedRedis

    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{HERE}"}
    python = [sys.executable, "-c", "from verk_compat.cli import main; main()", "worker"]
    results: dict[str, dict[str, Any]] = {}
    with EmbeddedRedis() as server:
        url = server.url
        runs: dict[str, list[dict[str, Any]]] = {}
        for _ in range(max(1, opts.repeat)):
            for label, cls in (("python async", "NoopAsync"), ("python sync", "NoopSync")):
                push(url, cls, opts.jobs)
                cmd = [*python, "worker:app", "-q", f"default={opts.concurrency}"]
                cmd += ["--redis-url", url]
                runs.setdefault(label, []).append(drain(url, cmd, opts.jobs, env))
        for label, done in runs.items():
            done.sort(key=lambda res: res["jobs_s"])
            results[label] = done[len(done) // 2]
        if not opts.skip_ruby:
            with tempfile.NamedTemporaryFile("w", suffix=".rb", delete=False) as rb:
                rb.write(RUBY_JOB)
            push(url, "NoopSync", opts.jobs)
            cmd = ["sidekiq", "-r", rb.name, "-c", "10", "-q", "default"]
            results["ruby sidekiq -c 10"] = drain(url, cmd, opts.jobs, {**env, "REDIS_URL": url})
        scaling = {
            n: _scale(url, [*python, "worker:app"], opts, n, env)
            for n in range(1, opts.processes + 1)
        }
    _print_results(results, opts.jobs)
    if scaling:
        _print_scaling(scaling)


def _scale(url: str, cmd: list[str], opts: Any, processes: int, env: dict[str, str]) -> Any:
    push(url, "NoopAsync", opts.jobs)
    cmd = [*cmd, "-q", f"default={opts.concurrency}", "--redis-url", url]
    return drain(url, [*cmd, "--processes", str(processes)], opts.jobs, env)


def _print_results(results: dict[str, dict[str, Any]], jobs: int) -> None:
    ruby = results.get("ruby sidekiq -c 10")
    print(
        f"{'worker':<22}{'jobs':>9}{'seconds':>9}{'jobs/s':>10}{'peak RSS':>10}{'vs Ruby':>9}"
        f"{'Redis CPU':>11}"
    )
    for label, res in results.items():
        ratio = f"{res['jobs_s'] / ruby['jobs_s']:.2f}x" if ruby else "-"
        print(
            f"{label:<22}{jobs:>9}{res['seconds']:>9.2f}{res['jobs_s']:>10.0f}"
            f"{res['rss_mb']:>8.1f}MB{ratio:>9}{res['redis_cpu']:>10.0%}"
        )


def _print_scaling(scaling: dict[int, dict[str, Any]]) -> None:
    base = scaling[1]["jobs_s"]
    print(f"\n{'--processes':<14}{'jobs/s':>10}{'vs 1':>8}{'Redis CPU':>11}")
    for n, res in scaling.items():
        print(
            f"{n:<14}{res['jobs_s']:>10.0f}{res['jobs_s'] / base:>7.2f}x{res['redis_cpu']:>10.0%}"
        )


if __name__ == "__main__":
    main()
