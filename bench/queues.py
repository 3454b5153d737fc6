"""Many queues in one worker: connections, idle cost and enqueue-to-start latency.

Usage: ``.venv/bin/python bench/queues.py [--queues 1,10,100,500] [--jobs 400]``

For each queue count, one worker process (``-q q0=2 ... -q qN=2``) runs against a private
``redis-server``. Printed per count:

* connections: clients Redis lists while the worker idles, and the peak under load;
* idle: the worker's CPU share and Redis's commands per second over 3 s with every queue empty;
* latency: enqueue-to-start time (p50 / p99) for jobs pushed one by one, 4 ms apart, to five
  busy queues (a steady stream) and, one in ten, to a random other queue (idle until then).

The baseline in the same run is Redis itself: the round-trip time of a PING (p50), the floor of
any enqueue-to-start latency.

This file is also the job module the worker imports (``queues:app``).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
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


@app.job("Stamp")
async def stamp(sent: float, kind: str) -> None:
    with open(os.environ["BENCH_OUT"], "a", encoding="utf-8") as out:
        out.write(f"{kind} {time.time() - sent}\n")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


def measure(url: str, queues: int, jobs: int) -> dict[str, Any]:
    import redis

    from verk_compat.client.client import Client

    client = redis.Redis.from_url(url)
    client.flushall()
    out = Path(tempfile.mkdtemp(prefix="bench-queues-")) / "latency.txt"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{HERE}", "BENCH_OUT": str(out)}
    cmd = [sys.executable, "-c", "from verk_compat.cli import main; main()", "worker", "queues:app"]
    cmd += [arg for i in range(queues) for arg in ("-q", f"q{i}=2")]
    cmd += ["--redis-url", url, "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=HERE, env=env)
    try:
        while not client.scard("processes"):
            time.sleep(0.05)
        time.sleep(3.0)  # idle queues give their blocking slots up
        idle = _idle(client, proc.pid)
        warm = Client(url)  # the busy queues' first jobs (not timed): then they are busy
        for i in range(min(5, queues)):
            warm.enqueue("Stamp", [time.time(), "warm"], queue=f"q{i}")
        time.sleep(0.2)
        peak = _load(Client(url), client, queues, jobs)
        deadline = time.monotonic() + 30
        while _lines(out) < jobs + min(5, queues) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(30)
    busy = [float(v) for k, v in _rows(out) if k == "busy"]
    cold = [float(v) for k, v in _rows(out) if k == "idle"]
    client.close()
    return {**idle, "peak_connections": peak, "busy": busy, "cold": cold}


def _idle(client: Any, pid: int) -> dict[str, Any]:
    commands = int(client.info("stats")["total_commands_processed"])
    cpu, began = cpu_seconds(pid), time.monotonic()
    time.sleep(3.0)
    elapsed = time.monotonic() - began
    return {
        "idle_connections": len(client.client_list()) - 1,
        "idle_cpu": (cpu_seconds(pid) - cpu) / elapsed,
        # minus this probe's own INFO commands
        "idle_commands_s": (int(client.info("stats")["total_commands_processed"]) - commands - 2)
        / elapsed,
    }


def _load(enqueue: Any, client: Any, queues: int, jobs: int) -> int:
    rng = random.Random(7)
    peak = 0
    for i in range(jobs):
        cold = queues > 5 and i % 10 == 9
        queue = f"q{rng.randrange(5, queues)}" if cold else f"q{i % min(5, queues)}"
        enqueue.enqueue("Stamp", [time.time(), "idle" if cold else "busy"], queue=queue)
        if i % 20 == 0:
            peak = max(peak, len(client.client_list()) - 1)
        time.sleep(0.004)
    enqueue.close()
    return peak


def _rows(out: Path) -> list[tuple[str, str]]:
    if not out.exists():
        return []
    return [tuple(line.split()) for line in out.read_text().splitlines() if line]  # type: ignore[misc]


def _lines(out: Path) -> int:
    return len(_rows(out))


def ping_ms(url: str) -> float:
    import redis

    client = redis.Redis.from_url(url)
    samples = []
    for _ in range(200):
        began = time.perf_counter()
        client.ping()
        samples.append((time.perf_counter() - began) * 1000)
    client.close()
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", default="1,10,100,500")
    parser.add_argument("--jobs", type=int, default=400)
    opts = parser.parse_args()

    from verk_compat.devtools.redis_server import EmbeddedRedis

    with EmbeddedRedis() as server:
        floor = ping_ms(server.url)
        rows = {int(n): measure(server.url, int(n), opts.jobs) for n in opts.queues.split(",")}
    print(f"Redis PING round trip (the latency floor): {floor:.2f} ms\n")
    head = f"{'queues':>7}{'conns idle':>11}{'peak':>6}{'idle CPU':>10}{'idle cmd/s':>11}"
    print(head + f"{'busy p50':>10}{'p99':>8}{'idle-q p50':>11}{'p99':>8}  (ms)")
    for n, row in rows.items():
        ms = [1000 * percentile(row[k], p) for k in ("busy", "cold") for p in (0.5, 0.99)]
        print(
            f"{n:>7}{row['idle_connections']:>11}{row['peak_connections']:>6}"
            f"{row['idle_cpu']:>9.1%}{row['idle_commands_s']:>11.0f}"
            f"{ms[0]:>10.2f}{ms[1]:>8.2f}{ms[2]:>11.2f}{ms[3]:>8.2f}"
        )


if __name__ == "__main__":
    main()
