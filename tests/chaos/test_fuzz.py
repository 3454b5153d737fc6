"""Fuzzer: bad payloads end in exactly one place while a worker runs (issue 15 item 6).

Payloads generated from the recorded fixtures (legit, mutated: truncated, wrong types, not
UTF-8, deep nesting, huge numbers, duplicate keys; and junk) are pushed into the served queues
and into ``retry``/``schedule`` (due) while an in-process worker runs. After the run each one is
in exactly one place: ran, retry, dead, quarantine, its own queue when the worker does not serve
it, or discarded (a failure of a ``retry: false`` job, as Sidekiq does); the worker never exits.
Runs with a fixed seed and a random one (``FUZZ_SEED`` replays one); prints one ``FUZZ`` line.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from collections import Counter
from typing import Any

import pytest
import redis

from tests.support.fuzz import FAILING, RUNNING, SERVED, Census, Payload, generate, push, readable
from verk_compat.codec.job import now
from verk_compat.keys import Keys
from verk_compat.worker.app import App
from verk_compat.worker.events import JobFailed, JobFinished
from verk_compat.worker.launcher import Worker

pytestmark = [pytest.mark.slow]

K = Keys()
COUNT = 1000
BATCHES = 6
SEEDS = [1516, int(os.environ.get("FUZZ_SEED") or random.SystemRandom().randrange(10**9))]


def fuzz_app(finished: Counter[str], failed: Counter[str]) -> App:
    app = App()

    def runs(*args: Any, **kwargs: Any) -> None:
        return None

    def raises(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("fuzz: failing on purpose")

    for name in RUNNING:
        app.register(name, runs)
    for name in FAILING:
        app.register(name, raises)

    @app.events.subscribe
    def record(event: object) -> None:
        if isinstance(event, JobFinished | JobFailed):
            ident = event.job.jid or ""
            (finished if isinstance(event, JobFinished) else failed)[ident] += 1

    return app


async def quiet(r: redis.Redis, deadline: float) -> None:
    """Until the served queues, in-progress lists and due members are empty twice in a row."""
    calm = 0
    while calm < 2 and time.monotonic() < deadline:
        busy = sum(r.llen(K.queue(q)) for q in SERVED)
        busy += sum(r.llen(k) for k in r.scan_iter(match="inprogress:*"))
        busy += r.zcount(K.retry, "-inf", now()) + r.zcount(K.schedule, "-inf", now())
        calm = calm + 1 if busy == 0 else 0
        await asyncio.sleep(0.3)


def place(p: Payload, census: Census, finished: Counter[str], failed: Counter[str]) -> list[str]:
    """Every place ``p`` is in after the run."""
    places = census.where(p) + ["ran"] * (finished[p.jid] if p.jid else 0)
    job = readable(p.raw)
    if not places and p.jid and failed[p.jid] and job and (job.retry is False or job.dead is False):
        places = ["discarded"]
    return places


def allowed(p: Payload, where: str) -> bool:
    if where in ("ran", "retry", "dead", "discarded") or "quarantine" in where:
        return True
    # A job for a queue this worker does not serve waits in its own queue: a legit one, or a
    # due member the poller moved byte for byte to the queue it names.
    if not where.startswith("queue:") or where[6:] in SERVED:
        return False
    named = re.search(rb'"queue":"([^"]*)"', p.raw)
    return where[6:] == p.queue or (named is not None and where[6:].encode() == named.group(1))


@pytest.mark.parametrize("seed", SEEDS, ids=["fixed-seed", "random-seed"])
async def test_every_payload_ends_in_exactly_one_place(
    r: redis.Redis, redis_url: str, seed: int
) -> None:
    print(f"FUZZ seed={seed} (replay: FUZZ_SEED={seed})")
    started = time.monotonic()
    payloads = generate(random.Random(seed), COUNT)
    finished: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    worker = Worker(
        fuzz_app(finished, failed), {q: 3 for q in SERVED}, redis_url=redis_url,
        poll_interval=0.1, beat_interval=0.2, block_timeout=0.2, shutdown_timeout=3,
        unknown_jobs="fail",  # unknown classes are among the places checked: retry/dead
    )  # fmt: skip
    task = asyncio.create_task(worker.run())
    try:
        size = len(payloads) // BATCHES + 1
        for i in range(0, len(payloads), size):
            push(r, payloads[i : i + size], now() - 1)
            await asyncio.sleep(0.4)
            assert not task.done(), "the worker exited"
        await quiet(r, started + 16)
        assert not task.done(), "the worker exited"
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)
        await worker.aclose()
    census = Census.take(r)
    outcomes: Counter[str] = Counter()
    wrong = []
    # Payloads with no jid are known by their bytes only: identical ones (junk such as b"{}"
    # pushed to several places) are checked together, one place per copy.
    copies = Counter(p.raw for p in payloads if not p.jid)
    seen: set[bytes] = set()
    for p in payloads:
        if not p.jid and p.raw in seen:
            continue
        seen.add(p.raw)
        places = place(p, census, finished, failed)
        # Identical bytes are one member of a sorted set (dead, retry): copies can merge there.
        count_ok = len(places) == 1 if p.jid else 1 <= len(places) <= copies[p.raw]
        if not count_ok or not all(allowed(p, where) for where in places):
            wrong.append((p.kind, p.target, places, p.raw[:120]))
            continue
        for outcome in places:
            outcomes["quarantine" if "quarantine" in outcome else outcome.split(":")[0]] += 1
    kinds = Counter(p.kind.split(" ")[0] for p in payloads)
    print(
        f"FUZZ seed={seed} payloads={len(payloads)} "
        + " ".join(f"{k}={outcomes[k]}" for k in ("ran", "retry", "dead", "quarantine"))
        + f" own_queue={outcomes['queue']} discarded={outcomes['discarded']} wrong={len(wrong)}"
        + f" worker_exits=0 seconds={time.monotonic() - started:.1f}"
        + " kinds="
        + ",".join(f"{k}:{v}" for k, v in sorted(kinds.items()))
    )
    assert wrong == []
