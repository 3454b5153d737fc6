"""Codec throughput: verk_compat.codec.Job against stdlib json doing the same work.

Run: ``.venv/bin/python bench/codec.py``. Every recorded job payload of Sidekiq 6.4.1 and 7.3.10
(``fixtures/``) is decoded/encoded repeatedly, about 0.5 s per measurement.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from verk_compat.codec import Job

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
JOB_KEYS = re.compile(r"^(queue:.+|schedule|retry|dead)$")
WORK_KEYS = re.compile(r":work(ers)?$")


def _entries(value: dict[str, Any]) -> Iterator[str]:
    if isinstance(value.get("raw"), str):
        yield value["raw"]
    for item in value.get("items", []) + value.get("members", []):
        yield item["raw"] if isinstance(item, dict) else item


def payloads() -> list[bytes]:
    """Every recorded job payload (queues, sets, bulk items, work hash payloads)."""
    found: list[bytes] = []
    for path in sorted(FIXTURES.glob("sidekiq-*/*.json")):
        doc = json.loads(path.read_text())
        key = doc.get("redis_key", "")
        if doc.get("redis_type") == "hash" and WORK_KEYS.search(key):
            found += [json.loads(v)["payload"].encode() for v in doc["raw"].values()]
        elif JOB_KEYS.match(key):
            found += [raw.encode() for raw in _entries(doc)]
        for name, value in doc.get("keys", {}).items():
            if JOB_KEYS.match(name):
                found += [raw.encode() for raw in _entries(value)]
    return found


_TS = ("created_at", "enqueued_at", "failed_at", "retried_at")
_STR = ("jid", "error_message", "error_class", "error_backtrace", "retry_queue", "wrapped", "bid")


def json_decode(raw: bytes) -> dict[str, Any]:  # noqa: C901
    """Stdlib baseline: json.loads plus the checks Job.decode makes."""
    job = json.loads(raw)
    if type(job) is not dict:
        raise ValueError("not an object")
    cls = job.get("class")
    if type(cls) is not str or not cls or type(job.get("args")) is not list:
        raise ValueError("class/args")
    queue = job.get("queue")
    if queue is not None and (type(queue) is not str or not queue):
        raise ValueError("queue")
    if job.get("retry") is not None and type(job["retry"]) not in (bool, int, float):
        raise ValueError("retry")
    for key in ("retry_count", "retry_for"):
        if job.get(key) is not None and type(job[key]) is not int:
            raise ValueError(key)
    for key in _STR:
        if job.get(key) is not None and type(job[key]) is not str:
            raise ValueError(key)
    for key in _TS:
        if job.get(key) is not None and type(job[key]) not in (int, float):
            raise ValueError(key)
    if job.get("backtrace") is not None and type(job["backtrace"]) not in (bool, int):
        raise ValueError("backtrace")
    if job.get("dead") is not None and type(job["dead"]) is not bool:
        raise ValueError("dead")
    if job.get("tags") is not None and type(job["tags"]) is not list:
        raise ValueError("tags")
    return job


def json_encode(job: dict[str, Any]) -> bytes:
    """Stdlib baseline encode (compact, raw UTF-8)."""
    return json.dumps(job, separators=(",", ":"), ensure_ascii=False).encode()


def rate(func: Callable[[Any], Any], items: list[Any]) -> float:
    """Items per second of ``func`` over ``items``, repeated for about 0.5 s (best of 3)."""
    rounds = 1
    while True:
        start = time.perf_counter()
        for _ in range(rounds):
            for item in items:
                func(item)
        elapsed = time.perf_counter() - start
        if elapsed >= 0.15:
            break
        rounds *= 2
    rounds = max(1, int(rounds * 0.5 / elapsed / 3))
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(rounds):
            for item in items:
                func(item)
        best = min(best, time.perf_counter() - start)
    return rounds * len(items) / best


def report(label: str, ours: float, theirs: float) -> None:
    """Print one comparison line."""
    print(f"{label:<34} verk {ours:>12,.0f}/s  json {theirs:>12,.0f}/s  ratio {ours / theirs:.1f}x")


def main() -> None:
    """Run all measurements and print them."""
    raws = payloads()
    jobs = [Job.decode(raw) for raw in raws]
    dicts = [json_decode(raw) for raw in raws]
    changed = [job.replace(retry_count=1) for job in jobs]
    new_jobs = [Job.new(j.class_name, list(j.args), queue=j.queue or "default") for j in changed]
    new_dicts = [json_decode(job.encode()) for job in new_jobs]
    print(f"{len(raws)} recorded payloads, {sum(map(len, raws)) / len(raws):.0f} bytes on average")
    report("decode", rate(Job.decode, raws), rate(json_decode, raws))
    report("decode + read args", rate(lambda r: Job.decode(r).args, raws), rate(json_decode, raws))
    report("encode (unchanged, = raw bytes)", rate(Job.encode, jobs), rate(json_encode, dicts))
    report("encode (changed: retry_count)", rate(Job.encode, changed), rate(json_encode, dicts))
    report("encode (Job.new jobs)", rate(Job.encode, new_jobs), rate(json_encode, new_dicts))
    report(
        "encode sidekiq8 (converts times)",
        rate(lambda j: j.encode("sidekiq8"), jobs),
        rate(json_encode, dicts),
    )
    report(
        "round trip decode+replace+encode",
        rate(lambda r: Job.decode(r).replace(retry_count=1).encode(), raws),
        rate(lambda r: json_encode({**json_decode(r), "retry_count": 1}), raws),
    )
    report(
        "round trip decode+encode",
        rate(lambda r: Job.decode(r).encode(), raws),
        rate(lambda r: json_encode(json_decode(r)), raws),
    )


if __name__ == "__main__":
    main()
