"""Verk's rules for the Verk jobs a Python worker meets on a shared Redis, as pure functions.

* :func:`route_due`: where the poller puts a due ``retry``/``schedule`` member that is not a
  Sidekiq job: a Verk job back to its queue in Verk's format (``enqueued_at`` set when null, as
  Verk's own poller does), any other JSON object with a ``queue`` to that queue byte for byte
  (as Sidekiq's poller does), and only what nobody can read to quarantine, with the reason.
* :func:`verk_failure`: what happens to a Verk job that raised in Python, by Verk's rules
  (docs/verk.md): ``retry_count`` counts from 1, ``failed_at`` on the first failure and
  ``retried_at`` after, ``retry_count >= max_retry_count`` (25 when null) goes to ``dead``,
  otherwise ``retry`` scored ``now + count**4 + 15 + rand(30) * (count + 1)``. The member is
  written in Verk's format, so a Verk node can retry it.

Nothing here touches Redis or the clock. Keys touched: none.
"""

from __future__ import annotations

import dataclasses
import random
import traceback
from dataclasses import dataclass
from typing import Literal

import msgspec

from verk_compat.codec.job import Job
from verk_compat.codec.verk import VerkJob, is_verk
from verk_compat.worker.retry import error_message, scrub

__all__ = [
    "BACKTRACE_FRAMES",
    "Quarantine",
    "Requeue",
    "VerkFailure",
    "route_due",
    "verk_backoff",
    "verk_backtrace",
    "verk_failure",
    "verk_job",
]

#: Verk keeps this many stack frames (``failed_job_stacktrace_size``).
BACKTRACE_FRAMES = 5


@dataclass(frozen=True, slots=True)
class Requeue:
    """LPUSH ``payload`` to ``queue`` (and drop the member from its set)."""

    queue: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Quarantine:
    """Nobody can read the member: set it aside with ``reason``."""

    reason: str


class _Queued(msgspec.Struct):
    queue: str


_QUEUED = msgspec.json.Decoder(_Queued)


def route_due(
    member: bytes, now: float, error: Exception, readable: bool = False
) -> Requeue | Quarantine:
    """Where a due member goes when :meth:`Job.decode` (or its re-encoding) failed with ``error``.

    Args:
        member: The exact member bytes.
        now: Epoch seconds (Verk's ``enqueued_at`` is written as integer seconds).
        error: Why the Sidekiq path could not take it (the quarantine reason if nothing can).
        readable: The member is a Sidekiq job that only could not be re-encoded: without a
            ``queue`` it goes to ``default`` (Sidekiq's default), untouched.
    """
    if is_verk(member):
        try:
            job = VerkJob.decode(member)
        except Exception:  # InvalidJob, or nesting too deep
            pass
        else:
            if job.queue:
                if job.enqueued_at is None:
                    job.enqueued_at = int(now)
                return Requeue(job.queue, job.encode())
    try:
        queue = _QUEUED.decode(member).queue
    except Exception:  # not JSON, or nested too deep (RecursionError): nobody can read it
        if readable:
            return Requeue("default", member)
        return Quarantine(str(error))
    if not queue:
        return Quarantine(f"{error} (and its queue is empty)")
    return Requeue(queue, member)


def verk_job(raw: bytes) -> tuple[VerkJob, Job] | None:
    """The Verk job in ``raw`` and its Sidekiq view, or None when ``raw`` is not a Verk job."""
    if not is_verk(raw):
        return None
    try:
        verk = VerkJob.decode(raw)
        return verk, verk.to_job(Job)
    except Exception:  # InvalidJob, or anything a hostile payload provokes: not a Verk job
        return None


@dataclass(frozen=True, slots=True)
class VerkFailure:
    """ZADD ``payload`` (Verk's format) to ``retry`` or ``dead`` with ``score``."""

    target: Literal["retry", "dead"]
    score: float
    payload: VerkJob


def verk_backoff(count: int, rng: random.Random) -> int:
    """Verk's delay in seconds after failure number ``count`` (1-based)."""
    return int(count**4 + 15 + rng.randrange(30) * (count + 1))


def verk_backtrace(exc: BaseException) -> str:
    """Plain-text frames, innermost first, one per line, like Elixir's formatted stacktrace."""
    frames = list(reversed(traceback.extract_tb(exc.__traceback__)))[:BACKTRACE_FRAMES]
    return "".join(scrub(f"    {f.filename}:{f.lineno}: {f.name}\n") for f in frames) or "\n"


def verk_failure(
    job: VerkJob, exc: BaseException, *, now: float, rng: random.Random
) -> VerkFailure:
    """Verk's decision for ``job`` that raised ``exc`` at ``now`` (epoch seconds)."""
    count = job.retry_count + 1
    stamp = int(now)
    changes: dict[str, object] = {
        "retry_count": count,
        "error_message": error_message(exc),
        "error_backtrace": verk_backtrace(exc),
    }
    changes["retried_at" if count > 1 else "failed_at"] = stamp
    failed = dataclasses.replace(job, **changes)  # type: ignore[arg-type]
    if count >= job.max_retries:
        return VerkFailure("dead", float(stamp), failed)
    return VerkFailure("retry", float(stamp + verk_backoff(count, rng)), failed)
