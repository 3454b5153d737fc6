"""Pure payload conversions for migrations: bytes in, bytes out, no Redis.

Each converter takes the exact source bytes and returns a :class:`Converted` (the payload to write
and, for a sorted-set target, its score) or raises :class:`~verk_compat.errors.InvalidJob`, which
the engine turns into a quarantine entry (:func:`quarantine_entry`). Redis keys: none.

Formats (docs/wire.md §5 for Resque, §2 for Sidekiq, §6 for Verk 1.x):
    * Resque job ``{"class","args"}``; Resque failure ``{"failed_at": "%Y/%m/%d %H:%M:%S %Z",
      "payload", "exception", "error", "backtrace": [..], "worker", "queue"}``.
    * Sidekiq job: any payload :meth:`Job.decode` accepts.
    * Verk 1.x job (read by ``verk1_to_sidekiq``, written by ``sidekiq_to_verk``): all 13 Verk
      keys (``max_retry_count``, ``finished_at``, ...), ``args`` a JSON string;
      ``retry_count`` counts from 1 where Sidekiq counts from 0.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import msgspec

from verk_compat.codec._schema import unreadable
from verk_compat.codec.backtrace import decode_backtrace, encode_backtrace
from verk_compat.codec.jid import new_jid
from verk_compat.codec.job import Job, Profile
from verk_compat.codec.quarantine import quarantine_entry
from verk_compat.codec.timestamps import score
from verk_compat.codec.verk import VerkJob, normalize_cjson
from verk_compat.codec.verk_write import verk_from_job
from verk_compat.errors import InvalidJob

__all__ = [
    "Converted",
    "Converter",
    "identity",
    "is_verk1",
    "parse_resque_time",
    "quarantine_entry",
    "resque_delayed_to_sidekiq",
    "resque_failure_to_sidekiq",
    "resque_to_sidekiq",
    "sidekiq_to_resque",
    "sidekiq_to_verk",
    "verk1_to_sidekiq",
]


class Converted(NamedTuple):
    """A converted element: the exact bytes to write and, for a ZSET target, the score."""

    payload: bytes
    score: str | None = None


Converter = Callable[[bytes], Converted]

_TOKENS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_TIME = re.compile(r"^\s*(\d{4})/(\d{2})/(\d{2}) (\d{2}):(\d{2}):(\d{2})\s*(.*?)\s*$")
_OFFSET = re.compile(r"^(?:UTC|GMT)?([+-])(\d{2}):?(\d{2})$")
#: Zone abbreviations Ruby's ``%Z`` prints on common hosts, as hours from UTC. An unknown or
#: ambiguous one (``IST``) is refused, so the job is quarantined instead of mis-dated.
ZONES: dict[str, float] = {
    "UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "WEST": 1, "BST": 1, "CET": 1, "CEST": 2,
    "EET": 2, "EEST": 3, "MSK": 3, "JST": 9, "KST": 9, "AEST": 10, "AEDT": 11,
    "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
    "AKST": -9, "AKDT": -8, "HST": -10,
}  # fmt: skip


class _Failure(msgspec.Struct):
    failed_at: str
    payload: msgspec.Raw
    exception: str | None = None
    error: str | None = None
    backtrace: list[str] | None = None
    queue: str | None = None


_FAILURE = msgspec.json.Decoder(_Failure)


def identity(raw: bytes) -> Converted:
    """Values untouched (namespace and server-to-server moves)."""
    return Converted(raw)


def resque_to_sidekiq(
    raw: bytes, queue: str, *, profile: Profile = "sidekiq7", at: float | None = None
) -> Converted:
    """Wrap a Resque job as a Sidekiq job on ``queue``.

    Adds ``queue`` (always ``queue``), and when absent ``retry: true``, a new 24-hex ``jid``,
    ``created_at`` and ``enqueued_at`` (``at``, default now). ``class``, ``args`` and any other
    key keep their exact bytes and order.

    Raises:
        InvalidJob: not a valid job payload.
    """
    job = Job.decode_resque(raw)
    stamp = time.time() if at is None else at
    changes = {"queue": queue, "enqueued_at": stamp, **_sidekiq_keys(job, stamp)}
    return Converted(job.replace(**changes).encode(profile))


def _sidekiq_keys(job: Job, stamp: float) -> dict[str, Any]:
    """The keys every Sidekiq client writes and a Resque payload lacks: ``retry: true``, a
    new ``jid`` and ``created_at`` (``stamp``), each only when absent."""
    changes: dict[str, Any] = {}
    if job.retry is None:
        changes["retry"] = True
    if job.jid is None:
        changes["jid"] = new_jid()
    if job.created_at is None:
        changes["created_at"] = stamp
    return changes


def resque_delayed_to_sidekiq(
    raw: bytes, at: int, *, profile: Profile = "sidekiq7", now: float | None = None
) -> Converted:
    """A resque-scheduler delayed job (``{"class","args","queue"}`` in ``delayed:<at>``) as a
    Sidekiq ``schedule`` member scored ``at``, on the queue its payload names.

    As for a queued Resque job (:func:`resque_to_sidekiq`), except that, like a job Sidekiq's
    ``perform_at`` writes, it has no ``enqueued_at`` until the poller enqueues it.

    Raises:
        InvalidJob: not a valid job payload, or one naming no queue.
    """
    job = Job.decode_resque(raw)
    if not isinstance(job.queue, str) or not job.queue:
        raise InvalidJob("resque-scheduler delayed job names no queue")
    changes = _sidekiq_keys(job, time.time() if now is None else now)
    return Converted(job.replace(**changes).encode(profile), str(int(at)))


def parse_resque_time(text: str) -> float:
    """Epoch seconds of a Resque ``failed_at`` (``"%Y/%m/%d %H:%M:%S %Z"``).

    Accepts a zone abbreviation from :data:`ZONES`, a numeric offset (``+0200``, ``-05:00``) or
    none (read as UTC).

    Raises:
        InvalidJob: the text is not in that format or names an unknown zone.
    """
    match = _TIME.match(text)
    if match is None:
        raise InvalidJob(f"failed_at: not %Y/%m/%d %H:%M:%S %Z: {text!r}", field="failed_at")
    zone = match.group(7)
    offset = _OFFSET.match(zone)
    if offset is not None:
        sign = 1 if offset.group(1) == "+" else -1
        hours = sign * (int(offset.group(2)) + int(offset.group(3)) / 60)
    elif zone.upper() in ZONES or not zone:
        hours = ZONES.get(zone.upper(), 0)
    else:
        raise InvalidJob(f"failed_at: unknown time zone {zone!r}", field="failed_at")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    zone_info = dt.timezone(dt.timedelta(hours=hours))
    try:
        stamp = dt.datetime(year, month, day, hour, minute, second, tzinfo=zone_info)
    except ValueError as exc:
        raise InvalidJob(f"failed_at: {exc}: {text!r}", field="failed_at") from None
    return stamp.timestamp()


def resque_failure_to_sidekiq(
    raw: bytes, *, profile: Profile = "sidekiq7", default_queue: str = "default"
) -> Converted:
    """Turn a Resque ``failed`` entry into a Sidekiq dead/retry member scored by failure time.

    ``error_class`` <- ``exception``, ``error_message`` <- ``error``, ``failed_at`` (and
    ``created_at``/``enqueued_at`` when absent) <- parsed ``failed_at``, ``error_backtrace`` <-
    encoded ``backtrace`` (when non-empty), ``retry_count`` 0, ``retry: true``, a new jid, and
    ``queue`` <- the failure's queue.

    Raises:
        InvalidJob: not a Resque failure, or its payload or time is invalid.
    """
    try:
        failure = _FAILURE.decode(raw)
    except msgspec.DecodeError as exc:
        raise InvalidJob(f"not a Resque failure: {exc}", raw=raw) from None
    except Exception as exc:  # RecursionError (nesting too deep), ...
        raise unreadable(exc, raw) from None
    failed_at = parse_resque_time(failure.failed_at)
    job = Job.decode_resque(bytes(failure.payload))
    changes: dict[str, Any] = {
        "queue": failure.queue or job.queue or default_queue,
        "error_class": failure.exception or "StandardError",
        "error_message": failure.error or "",
        "failed_at": failed_at,
        "retry_count": 0,
        **_sidekiq_keys(job, failed_at),
    }
    if job.enqueued_at is None:
        changes["enqueued_at"] = failed_at
    if failure.backtrace:
        changes["error_backtrace"] = encode_backtrace(failure.backtrace)
    return Converted(job.replace(**changes).encode(profile), score(failed_at))


def sidekiq_to_resque(raw: bytes) -> Converted:
    """Reduce a Sidekiq job to exactly ``{"class","args"}`` (args tokens kept).

    Raises:
        InvalidJob: not a valid Sidekiq payload.
    """
    return Converted(Job.decode(raw).encode_resque())


def is_verk1(raw: bytes) -> bool:
    """Whether ``raw`` is a Verk 1.x payload: a string ``args``, or Verk-only keys and no
    ``retry`` (a Sidekiq job carrying a ``max_retry_count`` for Verk is still a Sidekiq job).

    Raises:
        InvalidJob: not a JSON object.
    """
    try:
        tokens = _TOKENS.decode(raw)
    except msgspec.DecodeError as exc:
        raise InvalidJob(f"not a JSON object: {exc}", raw=raw) from None
    except Exception as exc:  # RecursionError (nesting too deep), ...
        raise unreadable(exc, raw) from None
    args = tokens.get("args")
    if args is not None and bytes(args).startswith(b'"'):
        return True
    return "retry" not in tokens and ("max_retry_count" in tokens or "finished_at" in tokens)


def _backtrace(text: str) -> str:
    try:
        decode_backtrace(text)  # already Sidekiq's encoding
        return text
    except InvalidJob:
        return encode_backtrace(text.splitlines())


def verk1_to_sidekiq(
    raw: bytes, queue: str | None = None, *, profile: Profile = "sidekiq7"
) -> Converted:
    """Convert a Verk 1.x payload to Sidekiq; a payload that is already Sidekiq is kept as is.

    Via :meth:`Job.decode_verk1`, then: ``queue`` <- ``queue`` when the payload has none; a new
    jid when it has none; ``retry_count`` minus one (Verk counts from 1, Sidekiq from 0);
    Verk's plain-text ``error_backtrace`` encoded as Sidekiq's base64/zlib JSON lines;
    ``created_at`` <- ``enqueued_at`` (or ``failed_at``, or now) when absent.

    Raises:
        InvalidJob: neither a valid Verk nor a valid Sidekiq payload.
    """
    if not is_verk1(raw):
        job = Job.decode(raw)  # validates; cjson's {} (Verk's Lua moved it) is written as []
        return Converted(raw if normalize_cjson(raw) is None else job.encode(profile))
    job = Job.decode_verk1(raw)
    changes: dict[str, Any] = {}
    if job.queue is None:
        if queue is None:
            raise InvalidJob("queue: missing and not known from the key", raw=raw, field="queue")
        changes["queue"] = queue
    if job.jid is None:
        changes["jid"] = new_jid()
    if job.retry_count is not None and job.retry_count > 0:
        changes["retry_count"] = job.retry_count - 1
    if job.error_backtrace is not None:
        changes["error_backtrace"] = _backtrace(job.error_backtrace)
    if job.created_at is None:
        changes["created_at"] = job.enqueued_at or job.failed_at or time.time()
    return Converted(job.replace(**changes).encode(profile))


def sidekiq_to_verk(raw: bytes, queue: str | None = None, *, scheduled: bool = False) -> Converted:
    """Convert a Sidekiq payload to Verk 1.x; a payload that is already Verk's is kept as is.

    Via :func:`~verk_compat.codec.verk_write.verk_from_job`: the 13 Verk keys alphabetically,
    ``args`` as a JSON string, ``max_retry_count`` from ``retry``, ``retry_count`` plus one
    (Verk counts from 1), integer-second timestamps, plain-text backtrace; ``enqueued_at`` null
    for a ``schedule`` member (``scheduled``), as ``Verk.schedule`` writes it. Keys Verk has no
    place for (``tags``, ``backtrace``, ...) are dropped, as a Verk node drops them.

    Raises:
        InvalidJob: neither a valid Sidekiq nor a valid Verk payload, or no queue.
    """
    if is_verk1(raw):
        VerkJob.decode(raw)  # validate only
        return Converted(raw)
    job = Job.decode(raw)
    stamp = None if scheduled else (job.enqueued_at or job.created_at or time.time())
    verk = verk_from_job(job, enqueued_at=stamp, scheduled=scheduled)
    if verk.queue is None:
        if queue is None:
            raise InvalidJob("queue: missing and not known from the key", raw=raw, field="queue")
        verk.queue = queue
    return Converted(verk.encode())
