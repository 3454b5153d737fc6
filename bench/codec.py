"""Codec throughput: verk_compat.codec.job.Job against stdlib json doing the same work.

Run: ``.venv/bin/python bench/codec.py``. Every recorded job payload of Sidekiq 6.4.1 and 7.3.10
(``fixtures/``) is decoded/encoded repeatedly; both sides are timed alternately (best of 5).
"""

from __future__ import annotations

import json
import math
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from verk_compat.codec.job import Job

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


def json_encode_ms(job: dict[str, Any]) -> bytes:
    """Stdlib baseline of a sidekiq8 encode: float-second timestamps become integer ms."""
    out = dict(job)
    for key in _TS:
        if type(out.get(key)) is float:
            out[key] = round(out[key] * 1000)
    return json_encode(out)


def _native(value: Any) -> None:
    """Sidekiq ``strict_args`` in plain Python (what Job.new checks)."""
    kind = type(value)
    if kind is list:
        for item in value:
            _native(item)
    elif kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise ValueError("key")
            _native(item)
    elif kind is float:
        if not math.isfinite(value):
            raise ValueError("float")
    elif kind not in (str, int, bool, type(None)):
        raise ValueError("type")


def json_new(spec: tuple[str, list[Any], str]) -> bytes:
    """Stdlib baseline of ``Job.new(cls, args, queue=q).encode()``: defaults, checks, dumps."""
    cls, args, queue = spec
    if type(cls) is not str or not cls or type(queue) is not str or not queue:
        raise ValueError("class/queue")
    args = list(args)
    _native(args)
    job = {"retry": True, "queue": queue, "class": cls, "args": args}
    job["jid"], job["created_at"] = secrets.token_hex(12), time.time()
    return json_encode(job)


def _rounds(func: Callable[[Any], Any], items: list[Any]) -> int:
    rounds = 1
    while True:
        start = time.perf_counter()
        for _ in range(rounds):
            for item in items:
                func(item)
        elapsed = time.perf_counter() - start
        if elapsed >= 0.05:
            return max(1, int(rounds * 0.1 / elapsed))
        rounds *= 2


def rates(
    ours: Callable[[Any], Any], our_items: list[Any], theirs: Callable[[Any], Any], items: list[Any]
) -> tuple[float, float]:
    """Items per second of both sides: best of 5 alternating runs of about 0.1 s each.

    Alternating keeps the ratio honest on a busy machine (both sides see the same load).
    """
    sides = [(ours, our_items, _rounds(ours, our_items)), (theirs, items, _rounds(theirs, items))]
    best = [float("inf"), float("inf")]
    for _ in range(5):
        for index, (func, batch, rounds) in enumerate(sides):
            start = time.perf_counter()
            for _ in range(rounds):
                for item in batch:
                    func(item)
            best[index] = min(best[index], (time.perf_counter() - start) / rounds / len(batch))
    return 1 / best[0], 1 / best[1]


def report(
    label: str,
    ours: Callable[[Any], Any],
    our_items: list[Any],
    theirs: Callable[[Any], Any],
    items: list[Any],
) -> None:
    """Measure both sides and print one comparison line."""
    mine, other = rates(ours, our_items, theirs, items)
    print(f"{label:<34} verk {mine:>12,.0f}/s  json {other:>12,.0f}/s  ratio {mine / other:.1f}x")


def main() -> None:
    """Run all measurements and print them."""
    raws = payloads()
    jobs = [Job.decode(raw) for raw in raws]
    dicts = [json_decode(raw) for raw in raws]
    changed = [job.replace(retry_count=1) for job in jobs]
    new_jobs = [Job.new(j.class_name, list(j.args), queue=j.queue or "default") for j in changed]
    new_dicts = [json_decode(job.encode()) for job in new_jobs]
    specs = [(j.class_name, list(j.args), j.queue or "default") for j in changed]
    print(f"{len(raws)} recorded payloads, {sum(map(len, raws)) / len(raws):.0f} bytes on average")
    report("decode", Job.decode, raws, json_decode, raws)
    report("decode + read args", lambda r: Job.decode(r).args, raws, json_decode, raws)
    report("encode (unchanged, = raw bytes)", Job.encode, jobs, json_encode, dicts)
    report("encode (changed: retry_count)", Job.encode, changed, json_encode, dicts)
    report("encode (Job.new jobs)", Job.encode, new_jobs, json_encode, new_dicts)
    report(
        "Job.new + encode (client path)",
        lambda s: Job.new(s[0], s[1], queue=s[2]).encode(),
        specs,
        json_new,
        specs,
    )
    report(
        "encode sidekiq8 (converts times)",
        lambda j: j.encode("sidekiq8"),
        jobs,
        json_encode_ms,
        dicts,
    )
    report(
        "round trip decode+replace+encode",
        lambda r: Job.decode(r).replace(retry_count=1).encode(),
        raws,
        lambda r: json_encode({**json_decode(r), "retry_count": 1}),
        raws,
    )
    report(
        "round trip decode+encode",
        lambda r: Job.decode(r).encode(),
        raws,
        lambda r: json_encode(json_decode(r)),
        raws,
    )


if __name__ == "__main__":
    main()
