"""Pure helpers of the admin API: latency, day ranges, history rows, process fields.

Nothing here touches Redis or the clock; callers pass ``now`` and the replies they read.

Keys touched: none.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from verk_compat.codec.job import Job
from verk_compat.codec.verk import VerkJob, is_verk
from verk_compat.errors import InvalidJob
from verk_compat.keys import glob_escape

__all__ = [
    "MAX_HISTORY_DAYS",
    "DayStat",
    "as_float",
    "as_int",
    "at_time",
    "day_range",
    "decode_or_none",
    "history_rows",
    "info_queues",
    "job_latency",
    "parse_info",
    "payload_latency",
    "read_float",
    "read_int",
    "retry_payload",
    "scan_pattern",
    "shown",
    "text",
    "unreadable_reason",
    "wire",
]

#: Sidekiq keeps daily counters five years; ``Stats::History`` refuses more days.
MAX_HISTORY_DAYS = 5 * 365


@dataclass(frozen=True, slots=True)
class DayStat:
    """Processed and failed counts of one UTC day."""

    day: _dt.date
    processed: int
    failed: int


def as_int(value: Any) -> int:
    """A Redis counter reply as an int (``None`` or garbage is 0, like Ruby's ``to_i``)."""
    number = read_int(value)
    return 0 if number is None else number


def read_int(value: Any) -> int | None:
    """An integer reply or JSON value as an int; ``None`` for absent or unreadable (a list, a
    float such as ``1e400`` or ``inf``, text that is not a number)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, int | bytes | str):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
    except (ValueError, OverflowError):
        pass
    return None


def as_float(value: bytes | str | None) -> float:
    """A Redis float reply (``beat``) as a finite float; ``None`` or garbage (``-inf``) is 0.0."""
    number = read_float(value)
    return 0.0 if number is None else number


def read_float(value: bytes | str | None) -> float | None:
    """A Redis float reply as a finite float; ``None`` for absent or unreadable (``-inf``)."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def at_time(epoch: float) -> _dt.datetime | None:
    """Epoch seconds as an aware UTC time; ``None`` when no date can show it (inf, 1e20)."""
    try:
        return _dt.datetime.fromtimestamp(epoch, _dt.UTC)
    except (OverflowError, ValueError, OSError):
        return None


def text(value: bytes | str) -> str:
    """A name read from Redis (queue, identity) as text; bytes that are not UTF-8 are kept as
    lone surrogates, so :func:`wire` gives back the exact key."""
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def wire(key: str) -> bytes:
    """The exact bytes of a key built from names read with :func:`text`."""
    return key.encode("utf-8", "surrogateescape")


def shown(name: str) -> str:
    """A name as people (and JSON) can read it: bytes that are not UTF-8 as ``\\xNN``."""
    return wire(name).decode("utf-8", "backslashreplace")


def unreadable_reason(raw: bytes) -> str:
    """Why ``raw`` is not a job (the :class:`InvalidJob` message), or ``""`` if it is one."""
    try:
        Job.decode(raw).args  # noqa: B018  # args too: 1e400 decodes but cannot be read
    except InvalidJob as exc:
        return str(exc)
    return ""


def day_range(start: _dt.date, days: int) -> list[_dt.date]:
    """``days`` dates from ``start`` backwards (newest first), as ``Stats::History`` reads them.

    Raises:
        ValueError: ``days`` is outside 1 to five years.
    """
    if not 1 <= days <= MAX_HISTORY_DAYS:
        raise ValueError(f"days must be 1 to {MAX_HISTORY_DAYS}, not {days}")
    return [start - _dt.timedelta(days=i) for i in range(days)]


def history_rows(
    days: Sequence[_dt.date],
    processed: Sequence[bytes | str | int | None],
    failed: Sequence[bytes | str | int | None],
) -> list[DayStat]:
    """Zip the MGET replies of the daily keys into one row per day (missing keys count 0)."""
    if not len(days) == len(processed) == len(failed):
        raise ValueError("one processed and one failed reply per day")
    rows = zip(days, processed, failed, strict=True)
    return [DayStat(day, as_int(p), as_int(f)) for day, p, f in rows]


def job_latency(job: Job | None, now: float) -> float:
    """Seconds since ``enqueued_at`` (else ``created_at``); 0.0 without either, or no job."""
    if job is None:
        return 0.0
    thence = job.enqueued_at if job.enqueued_at is not None else job.created_at
    return 0.0 if thence is None else now - thence


def decode_or_none(raw: bytes) -> Job | None:
    """The job of ``raw``, or ``None`` when it is not a valid payload (never raises).

    A Verk payload (``args`` a JSON string) is read in Sidekiq terms (``decode_verk1``);
    ``job.raw`` keeps its bytes, so actions still name the exact member.
    """
    try:
        return Job.decode(raw)
    except InvalidJob:
        pass
    if not is_verk(raw):
        return None
    try:
        return Job.decode_verk1(raw)
    except InvalidJob:
        return None


def payload_latency(raw: bytes | None, now: float) -> float:
    """Latency of the oldest queue entry (``LINDEX -1``); 0.0 for none or an invalid one."""
    return 0.0 if raw is None else job_latency(decode_or_none(raw), now)


def retry_payload(job: Job, *, now: float, decrement: bool) -> tuple[str, Job]:
    """``(queue, job to LPUSH)`` for a job leaving a sorted set "now".

    As ``Sidekiq::Client.push`` does it: a fresh ``enqueued_at``, ``queue`` defaulting to
    ``default``; with ``decrement`` (``SortedEntry#retry``) ``retry_count`` goes down by one
    when present, so the next failure counts the same attempt again.
    """
    queue = job.queue or "default"
    changes: dict[str, Any] = {"enqueued_at": now, "queue": queue}
    if decrement and job.retry_count is not None:
        changes["retry_count"] = job.retry_count - 1
    return queue, job.replace(**changes)


def verk_requeue(raw: bytes, now: float) -> tuple[str, bytes]:
    """``(queue, Verk payload to LPUSH)`` for a Verk member leaving a sorted set "now".

    Raises:
        InvalidJob: not a Verk job.
    """
    job = VerkJob.decode(raw)
    job.enqueued_at = int(now)
    return job.queue or "default", job.encode()


def scan_pattern(text: str) -> str:
    """A ZSCAN ``MATCH`` pattern finding members that contain ``text`` literally."""
    return f"*{glob_escape(text)}*"


def parse_info(info: bytes | str | None) -> dict[str, Any] | None:
    """The ``info`` JSON of a process hash, or ``None`` when absent or not a JSON object."""
    if info is None:
        return None
    try:
        data = json.loads(info)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested too deep
        return None
    return data if isinstance(data, dict) else None


def info_queues(info: dict[str, Any]) -> list[str]:
    """Queue names of a process: ``queues``, else the ``capsules``' weights (Sidekiq 8 shape)."""
    queues = info.get("queues")
    if isinstance(queues, list):
        return [str(q) for q in queues]
    names: list[str] = []
    capsules = info.get("capsules")
    if isinstance(capsules, dict):
        for capsule in capsules.values():
            weights = capsule.get("weights") if isinstance(capsule, dict) else None
            if isinstance(weights, dict):
                names.extend(str(q) for q in weights if str(q) not in names)
    return names
