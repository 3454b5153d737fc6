"""Enqueue throughput: verk-compat's Client against Ruby Sidekiq's client, on the same Redis.

    .venv/bin/python bench/enqueue.py [--redis-url URL] [--jobs 100000] [--singles 5000]

Runs, in one process and on one Redis (a private ``redis-server`` unless ``--redis-url``; the
database is FLUSHDB'd between runs, so never point it at a database you care about):

* Python ``Client.enqueue_many`` of ``--jobs`` jobs against Ruby ``Sidekiq::Client.push_bulk``;
* a loop of Python ``Client.enqueue`` against a loop of Ruby ``perform_async`` (``--singles``);

each ``--repeat`` times, best run kept, and prints jobs/s, the ratios and the number of round
trips (socket writes) per single Python enqueue. Aims: enqueue_many >= 3x push_bulk, single
enqueue >= 1.5x perform_async, 1 round trip per enqueue.

Redis keys written: ``queues``, ``queue:default`` (flushed after each run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import redis

from verk_compat.client import Client
from verk_compat.embedded import EmbeddedRedis

RUBY = """
require "sidekiq"
require "sidekiq/api"
require "json"
Sidekiq.configure_client { |c| c.redis = { url: ENV.fetch("REDIS_URL") } }
Sidekiq.logger.level = Logger::WARN
class BenchWorker
  include Sidekiq::Worker
end
n = Integer(ENV.fetch("N_BULK"))
m = Integer(ENV.fetch("N_SINGLE"))
clock = -> { Process.clock_gettime(Process::CLOCK_MONOTONIC) }
bulk = []
single = []
Integer(ENV.fetch("REPEAT")).times do
  Sidekiq.redis(&:flushdb)
  args = Array.new(n) { |i| [i, "x"] }
  t = clock.call
  Sidekiq::Client.push_bulk("class" => BenchWorker, "args" => args)
  bulk << clock.call - t
  raise "push_bulk lost jobs" unless Sidekiq::Queue.new("default").size == n
  Sidekiq.redis(&:flushdb)
  BenchWorker.perform_async(0, "warm")
  t = clock.call
  m.times { |i| BenchWorker.perform_async(i, "x") }
  single << clock.call - t
end
Sidekiq.redis(&:flushdb)
puts JSON.generate({"bulk" => bulk.min, "single" => single.min, "version" => Sidekiq::VERSION})
"""


class CountingConnection(redis.Connection):
    """A real connection that counts its socket writes (one per round trip)."""

    writes = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).writes += 1
        super().send_packed_command(command, check_health)


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
    return time.perf_counter() - start


def round_trips(url: str) -> float:
    pool = redis.ConnectionPool.from_url(url, connection_class=CountingConnection)
    client = Client(redis=redis.Redis(connection_pool=pool))
    client.enqueue("BenchWorker", [0])
    CountingConnection.writes = 0
    for i in range(100):
        client.enqueue("BenchWorker", [i])
    pool.disconnect()
    return CountingConnection.writes / 100


def ruby(url: str, jobs: int, singles: int, repeat: int) -> dict[str, Any]:
    if shutil.which("ruby") is None:
        sys.exit("ruby is not installed (Debian ruby-sidekiq is needed for the comparison)")
    env = {**os.environ, "REDIS_URL": url, "N_BULK": str(jobs), "N_SINGLE": str(singles)}
    env["REPEAT"] = str(repeat)
    proc = subprocess.run(
        ["ruby", "-e", RUBY], env=env, capture_output=True, text=True, check=False, timeout=600
    )
    if proc.returncode != 0:
        sys.exit(f"ruby failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def report(args: argparse.Namespace, url: str) -> None:
    with Client(url) as client:
        py_bulk = best(args.repeat, lambda: python_bulk(client, args.jobs))
        py_single = best(args.repeat, lambda: python_single(client, args.singles))
        client.redis.flushdb()
    trips = round_trips(url)
    rb = ruby(url, args.jobs, args.singles, args.repeat)
    rates = {
        "py_bulk": args.jobs / py_bulk,
        "rb_bulk": args.jobs / rb["bulk"],
        "py_single": args.singles / py_single,
        "rb_single": args.singles / rb["single"],
    }
    version = rb["version"]
    print(f"Redis {url}; best of {args.repeat} runs each; Ruby Sidekiq {version}")
    print(f"  Python enqueue_many     {args.jobs:>7} jobs  {rates['py_bulk']:>10,.0f} jobs/s")
    print(f"  Ruby push_bulk          {args.jobs:>7} jobs  {rates['rb_bulk']:>10,.0f} jobs/s")
    print(f"    ratio {rates['py_bulk'] / rates['rb_bulk']:.2f}x  (aim >= 3x)")
    print(f"  Python enqueue (loop)   {args.singles:>7} jobs  {rates['py_single']:>10,.0f} jobs/s")
    print(f"  Ruby perform_async loop {args.singles:>7} jobs  {rates['rb_single']:>10,.0f} jobs/s")
    print(f"    ratio {rates['py_single'] / rates['rb_single']:.2f}x  (aim >= 1.5x)")
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
