"""Enqueue throughput: verk-compat's Client against Ruby Sidekiq's client, on the same Redis.

    .venv/bin/python bench/enqueue.py [--redis-url URL] [--jobs 100000] [--singles 5000]

Runs, in one process and on one Redis (a private ``redis-server`` unless ``--redis-url``; the
database is FLUSHDB'd between runs, so never point it at a database you care about):

* Python ``Client.enqueue_many`` of ``--jobs`` jobs against Ruby ``Sidekiq::Client.push_bulk``;
* a loop of Python ``Client.enqueue`` against a loop of Ruby ``perform_async`` (``--singles``),
  interleaved (Python, Ruby, Python, Ruby, ...) with a PING loop of each side in every round,
  so that both see the same machine load; a single enqueue is one round trip, so its rate is
  bounded by the loopback RTT, which is printed (and subtracted) to show the floor;

each ``--repeat`` times, best run kept (medians printed too), and prints jobs/s, the ratios
and the number of round trips (socket writes) per single Python enqueue. Ruby runs in one
long-lived process that takes its runs over stdin. Aims: enqueue_many >= 3x push_bulk, single
enqueue >= 1.5x perform_async, 1 round trip per enqueue.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import redis

from verk_compat.client.client import Client
from verk_compat.devtools.redis_server import EmbeddedRedis

RUBY = """
require "sidekiq"
require "sidekiq/api"
require "json"
Sidekiq.configure_client { |c| c.redis = { url: ENV.fetch("REDIS_URL") } }
Sidekiq.logger.level = Logger::WARN
# redis-rb 4.8 warns on every SADD from Sidekiq 6.4's atomic_push; writing that warning would
# bill Ruby for a message, not for enqueueing.
Redis.silence_deprecations = true
class BenchWorker
  include Sidekiq::Worker
end
clock = -> { Process.clock_gettime(Process::CLOCK_MONOTONIC) }
$stdout.sync = true
puts JSON.generate({"version" => Sidekiq::VERSION})
while (line = $stdin.gets)
  what, n = line.split
  n = Integer(n)
  case what
  when "bulk"
    Sidekiq.redis(&:flushdb)
    args = Array.new(n) { |i| [i, "x"] }
    t = clock.call
    Sidekiq::Client.push_bulk("class" => BenchWorker, "args" => args)
    took = clock.call - t
    raise "push_bulk lost jobs" unless Sidekiq::Queue.new("default").size == n
  when "single"
    Sidekiq.redis(&:flushdb)
    BenchWorker.perform_async(0, "warm")
    t = clock.call
    n.times { |i| BenchWorker.perform_async(i, "x") }
    took = clock.call - t
    raise "perform_async lost jobs" unless Sidekiq::Queue.new("default").size == n + 1
  when "ping"
    took = Sidekiq.redis do |c|
      c.ping
      t = clock.call
      n.times { c.ping }
      clock.call - t
    end
  end
  Sidekiq.redis(&:flushdb)
  puts JSON.generate({"seconds" => took})
end
"""


class Ruby:
    """One Ruby Sidekiq process, running ``bulk N``, ``single N`` or ``ping N`` on request."""

    def __init__(self, url: str) -> None:
        if shutil.which("ruby") is None:
            sys.exit("ruby is not installed (Debian ruby-sidekiq is needed for the comparison)")
        env = {**os.environ, "REDIS_URL": url}
        self.stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed by close()
        self.proc = subprocess.Popen(
            ["ruby", "-e", RUBY],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        self.version = str(self._reply()["version"])

    def _reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.stderr.seek(0)
            sys.exit(f"ruby failed (exit {self.proc.wait()}):\n{self.stderr.read()}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def run(self, what: str, n: int) -> float:
        """Seconds the Ruby side took for ``n`` of ``what``."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{what} {n}\n")
        self.proc.stdin.flush()
        return float(self._reply()["seconds"])

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(60)
        self.stderr.close()


class CountingConnection(redis.Connection):
    """A real connection that counts its socket writes (one per round trip)."""

    writes = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).writes += 1
        # redis-py leaves this hook unannotated; the override only counts the writes.
        super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]


def best(repeat: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(repeat))


def python_bulk(client: Client, jobs: int) -> float:
    client.redis.flushdb()
    args = [[i, "x"] for i in range(jobs)]
    start = time.perf_counter()
    client.enqueue_many("BenchWorker", args)
    elapsed = time.perf_counter() - start
    assert client.redis.llen("queue:default") == jobs, "enqueue_many lost jobs"
    return elapsed


def python_single(client: Client, singles: int) -> float:
    client.redis.flushdb()
    client.enqueue("BenchWorker", [0, "warm"])
    start = time.perf_counter()
    for i in range(singles):
        client.enqueue("BenchWorker", [i, "x"])
    elapsed = time.perf_counter() - start
    assert client.redis.llen("queue:default") == singles + 1, "enqueue lost jobs"
    client.redis.flushdb()
    return elapsed


def python_ping(url: str, pings: int) -> float:
    """A PING loop on a bare redis-py connection: the round-trip floor of any client."""
    pool = redis.ConnectionPool.from_url(url)
    conn: Any = pool.connection_class(**pool.connection_kwargs)
    conn.connect()
    packed = [b"*1\r\n$4\r\nPING\r\n"]
    start = time.perf_counter()
    for _ in range(pings):
        conn.send_packed_command(packed, check_health=False)
        conn.read_response()
    elapsed = time.perf_counter() - start
    conn.disconnect()
    return elapsed


def round_trips(url: str) -> float:
    pool = redis.ConnectionPool.from_url(url, connection_class=CountingConnection)
    client = Client(redis=redis.Redis(connection_pool=pool))
    client.enqueue("BenchWorker", [0])
    CountingConnection.writes = 0
    for i in range(100):
        client.enqueue("BenchWorker", [i])
    pool.disconnect()
    return CountingConnection.writes / 100


def report(args: argparse.Namespace, url: str) -> None:
    rb = Ruby(url)
    try:
        with Client(url) as client:
            py_bulk = best(args.repeat, lambda: python_bulk(client, args.jobs))
            client.redis.flushdb()
            rb_bulk = min(rb.run("bulk", args.jobs) for _ in range(args.repeat))
            # Interleaved: every round runs each side once, so load changes hit both alike.
            runs: dict[str, list[float]] = {k: [] for k in ("py", "rb", "py_ping", "rb_ping")}
            for _ in range(args.repeat):
                runs["py_ping"].append(python_ping(url, args.singles) / args.singles)
                runs["py"].append(python_single(client, args.singles) / args.singles)
                runs["rb"].append(rb.run("single", args.singles) / args.singles)
                runs["rb_ping"].append(rb.run("ping", args.singles) / args.singles)
    finally:
        rb.close()
    trips = round_trips(url)
    us = {k: (min(v) * 1e6, statistics.median(v) * 1e6) for k, v in runs.items()}
    py_bulk_rate, rb_bulk_rate = args.jobs / py_bulk, args.jobs / rb_bulk
    print(f"Redis {url}; best of {args.repeat} runs each; Ruby Sidekiq {rb.version}")
    print(f"  Python enqueue_many     {args.jobs:>7} jobs  {py_bulk_rate:>10,.0f} jobs/s")
    print(f"  Ruby push_bulk          {args.jobs:>7} jobs  {rb_bulk_rate:>10,.0f} jobs/s")
    print(f"    ratio {py_bulk_rate / rb_bulk_rate:.2f}x  (aim >= 3x)")
    print(f"  single pushes, {args.singles} per run, Python and Ruby runs interleaved:")
    print("                            best µs/job  median  best jobs/s  best µs above its PING")
    rows = [
        ("Python PING (redis-py)", "py_ping", None),
        ("Ruby PING (redis-rb)", "rb_ping", None),
        ("Python enqueue (loop)", "py", "py_ping"),
        ("Ruby perform_async loop", "rb", "rb_ping"),
    ]
    for label, key, floor in rows:
        low, mid = us[key]
        above = f"{low - us[floor][0]:>10.1f}" if floor else ""
        print(f"  {label:<24}  {low:>9.1f}  {mid:>7.1f}  {1e6 / low:>11,.0f}  {above}")
    print(f"    ratio {us['rb'][0] / us['py'][0]:.2f}x  (aim >= 1.5x; best runs)")
    print(f"    ratio {us['rb'][1] / us['py'][1]:.2f}x  (medians)")
    print(f"  round trips per Python enqueue: {trips:g}  (aim 1)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis-url", help="Redis to use (FLUSHDB'd!); default: a private one")
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs per bulk run")
    parser.add_argument("--singles", type=int, default=5_000, help="jobs per single loop")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each; best is kept")
    args = parser.parse_args()
    if args.redis_url:
        report(args, args.redis_url)
        return
    with EmbeddedRedis() as server:
        report(args, server.url)


if __name__ == "__main__":
    main()
