"""``verk-compat demo``: the whole round in one command, on a private Redis when none is given.

Enqueues jobs exactly as Ruby's ``Sidekiq::Client`` would, shows one payload as it sits in
Redis, runs them in a Python worker (an ``async def`` job, a sync job, a failing job), and
shows the retry set entry that Sidekiq Web would list. On a Redis it is given, every key it
touches is under the namespace ``verk-demo:`` (its queue, ``queues``, ``retry``, ``stat:*``, the
worker's heartbeat keys), which it empties first so each run starts from nothing; no other key
is read or written. On its private Redis it uses Sidekiq's plain key names.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis

from verk_compat.client.client import Client
from verk_compat.codec.job import Job
from verk_compat.devtools.redis_server import EmbeddedRedis
from verk_compat.keys import Keys
from verk_compat.redis_url import sync_client, where
from verk_compat.worker.app import App
from verk_compat.worker.events import JobFailed
from verk_compat.worker.launcher import Worker

__all__ = ["NAMESPACE", "QUEUE", "build_app", "run_demo"]

QUEUE = "verk-demo"
#: The prefix of every key the demo touches on a Redis it did not start itself.
NAMESPACE = "verk-demo"


def build_app(results: list[str]) -> App:
    """The demo's jobs: only these names can run, whatever a payload says."""
    app = App("verk-demo")

    @app.job("Demo::Greeter")
    async def greet(name: str, times: int) -> None:
        results.append(f"hello {name} x{times}")

    @app.job("Billing::Charge")
    class Charge:
        def perform(self, account: dict[str, Any], cents: int) -> None:
            results.append(f"charged {account['id']} {cents / 100:.2f}")

    @app.job("Demo::Flaky")
    def flaky(reason: str) -> None:
        raise RuntimeError(reason)

    @app.job("Demo::Count")
    async def count(n: int) -> None:
        pass

    app.events.subscribe(_report_failures)
    return app


def _report_failures(event: Any) -> None:
    if isinstance(event, JobFailed):
        print(f"  event JobFailed: {event.job.class_name} jid={event.job.jid}: {event.exception}")


@contextlib.contextmanager
def _redis_url(url: str | None, say: Callable[[str], None]) -> Iterator[tuple[str, str]]:
    """``(url, namespace)``: the given Redis under :data:`NAMESPACE`, or a private one."""
    if url:
        say(f"Using {where(sync_client(url))}: only keys under {NAMESPACE}:* (emptied first).")
        yield url, NAMESPACE
        return
    with EmbeddedRedis() as server:
        say(f"No REDIS_URL given: started a private redis-server on {server.url}")
        yield server.url, ""


def run_demo(url: str | None, jobs: int, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the demo against ``url`` (or an embedded Redis); returns what it measured."""
    with _redis_url(url, say) as (redis_url, namespace):
        return _demo(redis_url, namespace, jobs, say)


def _clear(raw_redis: redis.Redis, keys: Keys) -> None:
    """Delete the keys of a previous demo run (only those under the demo's namespace)."""
    if not keys.namespace:
        raise ValueError("the demo empties only its own namespace, never a whole database")
    for key in raw_redis.scan_iter(match=keys.pattern(), count=1000):
        raw_redis.unlink(key)


def _demo(url: str, namespace: str, jobs: int, say: Callable[[str], None]) -> dict[str, Any]:
    results: list[str] = []
    keys = Keys(namespace)
    raw_redis = sync_client(url)
    if namespace:
        _clear(raw_redis, keys)
    with Client(redis=raw_redis, namespace=namespace) as client:
        say(f"\n1. Enqueue, as Ruby's Sidekiq::Client would (queue {QUEUE!r}):")
        jid = client.enqueue("Demo::Greeter", ["Ada", 3], queue=QUEUE)
        client.enqueue("Billing::Charge", [{"id": "acct_42"}, 1999], queue=QUEUE, retry=5)
        client.enqueue("Demo::Flaky", ["card declined"], queue=QUEUE, backtrace=5)
        started = time.perf_counter()
        client.enqueue_many("Demo::Count", ([i] for i in range(jobs)), queue=QUEUE)
        say(f"   3 single jobs, then {jobs} in {time.perf_counter() - started:.3f}s; jid {jid}")
        oldest = raw_redis.lindex(keys.queue(QUEUE), -1)
        say(f"   the next job, byte for byte as Ruby Sidekiq reads it:\n   {oldest!r}")

    say("\n2. Run them in a Python worker (burst mode: stop when the queue is empty):")
    app = build_app(results)
    started = time.perf_counter()
    asyncio.run(_drain(app, url, namespace))
    seconds = time.perf_counter() - started
    for line in results:
        say(f"   {line}")

    processed = int(raw_redis.get(keys.stat_processed) or 0)
    failed = int(raw_redis.get(keys.stat_failed) or 0)
    say(f"\n3. Sidekiq's counters: stat:processed={processed} stat:failed={failed}")
    say(f"   {jobs + 3} jobs ran in {seconds:.2f}s ({(jobs + 3) / seconds:,.0f} jobs/s)")
    retry: list[tuple[bytes, float]] = raw_redis.zrange(keys.retry, 0, -1, withscores=True)  # type: ignore[assignment]
    for member, score in retry:
        job = Job.decode(member)
        say(
            f"   retry set (Sidekiq Web's Retries tab): {job.class_name} "
            f"{job.error_class}: {job.error_message!r} retry_count={job.retry_count}, "
            f"next try in {score - time.time():.0f}s"
        )
    raw_redis.close()
    _ruby_view(url, namespace, say)
    return {"processed": processed, "failed": failed, "retries": len(retry), "results": results}


async def _drain(app: App, url: str, namespace: str) -> None:
    worker = Worker(app, {QUEUE: 10}, redis_url=url, namespace=namespace, burst=True)
    try:
        await worker.run()
    finally:
        await worker.aclose()


_RUBY_VIEW = """
require "sidekiq"
require "sidekiq/api"
Sidekiq.configure_client { |c| c.redis = { url: ENV.fetch("REDIS_URL") } }
Sidekiq.logger.level = Logger::WARN
Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)
s = Sidekiq::Stats.new
e = Sidekiq::RetrySet.new.first
puts "   Sidekiq #{Sidekiq::VERSION} (Ruby) reads the same Redis: processed=#{s.processed} " \
     "failed=#{s.failed} retries=#{s.retry_size}"
puts "   Ruby's RetrySet: #{e.klass} #{e["error_class"]}: #{e["error_message"]}" if e
"""


def _ruby_view(url: str, namespace: str, say: Callable[[str], None]) -> None:
    """Let real Ruby Sidekiq read what Python wrote, when it is installed (Ruby reads a
    namespace only through the redis-namespace gem, so only on the demo's private Redis)."""
    if shutil.which("ruby") is None or shutil.which("sidekiq") is None:
        say("\n4. (Install ruby-sidekiq to see Ruby Sidekiq read the same data.)")
        return
    if namespace:
        say("\n4. (Run the demo without REDIS_URL to see Ruby Sidekiq read the same data.)")
        return
    say("\n4. Ask real Ruby Sidekiq what it sees:")
    env = {**os.environ, "REDIS_URL": url}
    proc = subprocess.run(
        ["ruby", "-e", _RUBY_VIEW], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    for line in (proc.stdout or proc.stderr).splitlines():
        say(line)
