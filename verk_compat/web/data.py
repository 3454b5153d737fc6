"""What the dashboard pages read, and how a form names a job: thin adapters over the admin API.

A job in a sorted set is named by ``<score>-<digest>`` (``digest`` = the first 16 hex digits of
SHA-1 of its exact bytes); a queued job by its digest. Looking a name up returns the member
with those exact bytes, so actions (ZREM, LREM, the move scripts) act on what the page showed,
invalid payloads included, never on a re-serialization.

Keys touched (reads only): ``queue:<q>`` (LLEN, LRANGE), ``schedule``/``retry``/``dead``
(ZCARD, ZREVRANGE, ZRANGEBYSCORE, ZSCAN), ``<identity>:work`` and ``<identity>:workers``
(HGETALL), and Redis ``INFO``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from redis import Redis

from verk_compat.api import JobRecord, JobSet, Queue, SortedEntry
from verk_compat.api.values import decode_or_none, scan_pattern
from verk_compat.codec.backtrace import decode_backtrace
from verk_compat.errors import InvalidJob
from verk_compat.keys import Keys

__all__ = [
    "INFO_FIELDS",
    "Paging",
    "Running",
    "backtrace_of",
    "digest",
    "entry_id",
    "find_entry",
    "find_queued",
    "paging",
    "parse_entry_id",
    "queue_page",
    "redis_info",
    "running_jobs",
    "search_set",
    "set_page",
]

#: INFO fields shown on the dashboard (nothing secret: no config, no client list).
INFO_FIELDS = (
    "redis_version",
    "uptime_in_days",
    "connected_clients",
    "used_memory_human",
    "used_memory_peak_human",
)


@dataclass(frozen=True, slots=True)
class Paging:
    """Page ``page`` (1-based) of ``total`` items, ``per_page`` each."""

    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def start(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def end(self) -> int:
        """Last index (inclusive), as LRANGE/ZREVRANGE take it."""
        return self.start + self.per_page - 1


def paging(total: int, page: int, per_page: int) -> Paging:
    """Clamp ``page`` into 1..pages (a stale link shows the last page, not an error)."""
    per_page = max(1, min(per_page, 500))
    pages = max(1, math.ceil(total / per_page))
    return Paging(max(1, min(page, pages)), per_page, total)


def digest(raw: bytes) -> str:
    """Short stable name of a payload's exact bytes."""
    return hashlib.sha1(raw, usedforsecurity=False).hexdigest()[:16]


def entry_id(entry: SortedEntry) -> str:
    """``<score>-<digest>`` of a sorted-set member (``repr`` keeps the float exact)."""
    return f"{entry.score!r}-{digest(entry.raw)}"


def parse_entry_id(text: str) -> tuple[float, str]:
    """``(score, digest)`` of an entry id.

    Raises:
        ValueError: not ``<finite float>-<16 hex digits>``.
    """
    score_text, sep, name = text.rpartition("-")
    if not sep or len(name) != 16 or any(c not in "0123456789abcdef" for c in name):
        raise ValueError(f"not a job id of this dashboard: {text!r}")
    score = float(score_text)
    if not math.isfinite(score):
        raise ValueError(f"not a finite score: {score_text!r}")
    return score, name


def find_entry(jobs: JobSet, ident: str) -> SortedEntry | None:
    """The member named ``ident`` (see :func:`entry_id`), or ``None`` if it has gone."""
    score, name = parse_entry_id(ident)
    found: Any = jobs.redis.zrangebyscore(jobs.key, score, score, withscores=True)
    for raw, value in found:
        if digest(raw) == name:
            return SortedEntry(raw=raw, job=decode_or_none(raw), score=float(value))
    return None


def set_page(jobs: JobSet, page: int, per_page: int) -> tuple[list[SortedEntry], Paging]:
    """One page of a sorted set, highest score first (Sidekiq Web's order)."""
    where = paging(jobs.size(), page, per_page)
    found: Any = jobs.redis.zrevrange(jobs.key, where.start, where.end, withscores=True)
    entries = [SortedEntry(raw=r, job=decode_or_none(r), score=float(s)) for r, s in found]
    return entries, where


def search_set(jobs: JobSet, text: str, limit: int = 500) -> list[SortedEntry]:
    """Members whose bytes contain ``text`` (a jid, a class name...), highest score first."""
    hits: list[SortedEntry] = []
    member: Any
    for member, score in jobs.redis.zscan_iter(jobs.key, match=scan_pattern(text)):
        hits.append(SortedEntry(raw=member, job=decode_or_none(member), score=float(score)))
        if len(hits) >= limit:
            break
    return sorted(hits, key=lambda e: -e.score)


def queue_page(queue: Queue, page: int, per_page: int) -> tuple[list[JobRecord], Paging]:
    """One page of a queue, newest first (index 0 is the newest job)."""
    where = paging(queue.size(), page, per_page)
    found: Any = queue.redis.lrange(queue.key, where.start, where.end)
    return [JobRecord(raw, decode_or_none(raw)) for raw in found], where


def find_queued(queue: Queue, name: str) -> JobRecord | None:
    """The first job of ``queue`` whose bytes have digest ``name`` (a scan of the list)."""
    for record in _records(queue):
        if digest(record) == name:
            return JobRecord(record, decode_or_none(record))
    return None


def _records(queue: Queue) -> Iterator[bytes]:
    start = 0
    while True:
        found: Any = queue.redis.lrange(queue.key, start, start + 99)
        if not found:
            return
        yield from found
        start += len(found)


@dataclass(frozen=True, slots=True)
class Running:
    """A job a process is running, from its ``work``/``workers`` hash."""

    thread: str
    queue: str
    run_at: float
    record: JobRecord


def running_jobs(redis: Redis, keys: Keys, identity: str) -> list[Running]:
    """Jobs running in ``identity``: Sidekiq 7's ``:work`` hash and Sidekiq 6's ``:workers``."""
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(keys.work(identity))
    pipe.hgetall(keys.workers(identity))
    rows: list[Running] = []
    for found in pipe.execute():
        for thread, value in found.items():
            running = _running(thread.decode("utf-8", "replace"), value)
            if running is not None:
                rows.append(running)
    return sorted(rows, key=lambda r: r.run_at)


def _running(thread: str, value: bytes) -> Running | None:
    try:
        data = json.loads(value)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    payload = data.get("payload")
    # Sidekiq stores the payload as a JSON string; some versions store the object itself.
    raw = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
    run_at = data.get("run_at")
    return Running(
        thread=thread,
        queue=str(data.get("queue") or ""),
        run_at=float(run_at) if isinstance(run_at, int | float) else 0.0,
        record=JobRecord(raw, decode_or_none(raw)),
    )


def backtrace_of(record: JobRecord) -> list[str]:
    """The decoded ``error_backtrace`` lines (empty when none or undecodable)."""
    job = record.job
    if job is None or not job.error_backtrace:
        return []
    try:
        return decode_backtrace(job.error_backtrace)
    except InvalidJob:
        return ["(backtrace present but not decodable)"]


def redis_info(redis: Redis) -> dict[str, str]:
    """The :data:`INFO_FIELDS` of the server, as text."""
    info: Any = redis.info()
    return {name: str(info.get(name, "")) for name in INFO_FIELDS}
