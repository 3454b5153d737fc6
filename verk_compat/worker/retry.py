"""Sidekiq's retry rules as pure functions (docs/wire.md §4.4 to §4.6).

Nothing here touches Redis or the clock: callers pass ``now`` and a random source, and get back a
decision. :func:`next_attempt` says what happens to a failed job: :class:`Retry` (ZADD ``retry``
at a score), :class:`Dead` (ZADD ``dead``, trimmed) or :class:`Discard` (dropped). The worker's
failure script applies the decision atomically.

``retry_count`` is 0-based in every version. Two rules depend on the wire profile: with
``sidekiq6``/``sidekiq7`` (Sidekiq 6.4 to 7.3) jitter is ``rand(10) * (count + 1)`` and
``retry_for`` is checked *in addition to* the count (7.1.3+); with ``sidekiq8`` (Sidekiq 8.1,
the newest) jitter is ``rand(10 * (count + 1))`` and a job with ``retry_for`` is bounded by time
only, one without it by count only.

Keys touched: none.
"""

from __future__ import annotations

import builtins
import random
import re
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from verk_compat.codec.backtrace import encode_backtrace
from verk_compat.codec.job import Job, Profile
from verk_compat.codec.profiles import rules
from verk_compat.errors import JobTimeout

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "MAX_MESSAGE",
    "Dead",
    "Decision",
    "Discard",
    "Retry",
    "RetryIn",
    "apply_registered",
    "backoff",
    "backtrace_lines",
    "error_class_name",
    "jitter",
    "next_attempt",
    "record_failure",
    "retry_queue",
    "scrub",
]

DEFAULT_MAX_RETRIES = 25
#: Sidekiq keeps the first 10,000 characters of the message.
MAX_MESSAGE = 10_000

#: A per-job hook ``(count, exception, job) -> seconds | "kill" | "discard" | None``.
RetryIn = Callable[[int, BaseException, Job], "int | float | str | None"]


@dataclass(frozen=True, slots=True)
class Retry:
    """Put ``payload`` in the ``retry`` set with score ``at`` (float epoch seconds)."""

    at: float
    payload: Job


@dataclass(frozen=True, slots=True)
class Dead:
    """Retries exhausted (or killed): put ``payload`` in the ``dead`` set."""

    payload: Job


@dataclass(frozen=True, slots=True)
class Discard:
    """Drop the job: ``retry: false``, ``dead: false``, a ``discard`` hook, or no retry key."""

    payload: Job
    reason: str


Decision = Retry | Dead | Discard


def jitter(count: int, rng: random.Random, profile: Profile = "sidekiq7") -> int:
    """Sidekiq's random extra delay: ``rand(10) * (count + 1)`` (<= 7.3), ``rand(10 * (count + 1))``
    (>= 8.0)."""
    if rules(profile).wide_jitter:
        return rng.randrange(10 * (count + 1))
    return rng.randrange(10) * (count + 1)


def backoff(count: int, rng: random.Random, profile: Profile = "sidekiq7") -> float:
    """Sidekiq's default delay in seconds for 0-based ``count``: count**4 + 15 + jitter."""
    return float(count**4 + 15 + jitter(count, rng, profile))


def max_retries(retry: object) -> int:
    """The retry limit: ``retry`` if it is a JSON integer (not a bool), else 25."""
    if isinstance(retry, int) and not isinstance(retry, bool):
        return retry
    return DEFAULT_MAX_RETRIES


def retry_queue(job: Job, fetched_queue: str) -> str:
    """Queue a retried job goes back to: ``retry_queue`` if set, else where it was fetched."""
    return job.retry_queue or fetched_queue


def error_class_name(exc: BaseException) -> str:
    """``error_class`` for an exception: bare for builtins (``ValueError``), else dotted."""
    cls = type(exc)
    if cls.__module__ == "builtins" and getattr(builtins, cls.__name__, None) is cls:
        return str(cls.__qualname__)
    return f"{cls.__module__}.{cls.__qualname__}"


_SURROGATE = re.compile("[\ud800-\udfff]")


def scrub(text: str) -> str:
    """Ruby's ``String#scrub``: what is not UTF-8 (lone surrogates, e.g. from ``os.fsdecode``)
    becomes U+FFFD, one per surrogate, so the text can be written as JSON."""
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def error_message(exc: BaseException) -> str:
    """``str(exc)`` cut to 10,000 characters and scrubbed; never raises (Sidekiq's fallback)."""
    try:
        text: str = str(exc)
        return scrub(text[:MAX_MESSAGE])
    except Exception:
        return "!!! ERROR MESSAGE THREW AN ERROR !!!"


def backtrace_lines(exc: BaseException) -> list[str]:
    """Frames in Ruby's shape (``file:line:in `func'``), innermost first like Ruby's; for a
    :class:`JobTimeout`, where the job was when its time ran out."""
    if isinstance(exc, JobTimeout) and exc.where:
        return list(exc.where)
    return frame_lines(traceback.extract_tb(exc.__traceback__))


def frame_lines(frames: Sequence[traceback.FrameSummary]) -> list[str]:
    """``frames`` (outermost first, as :mod:`traceback` lists them) in Ruby's shape,
    innermost first."""
    return [scrub(f"{f.filename}:{f.lineno}:in `{f.name}'") for f in reversed(frames)]


def record_failure(job: Job, exc: BaseException, *, queue: str, now: float) -> Job:
    """The job with Sidekiq's error fields set for this failure (docs/wire.md §4.4, steps 2-4)."""
    changes: dict[str, object] = {
        "queue": retry_queue(job, queue),
        "error_message": error_message(exc),
        "error_class": error_class_name(exc),
    }
    if job.retry_count is None:
        changes.update(failed_at=now, retry_count=0)
    else:
        changes.update(retried_at=now, retry_count=job.retry_count + 1)
    if job.backtrace:
        lines = backtrace_lines(exc)
        if not isinstance(job.backtrace, bool):
            lines = lines[: job.backtrace]
        changes["error_backtrace"] = encode_backtrace(lines)
    return job.replace(**changes)


def apply_registered(
    job: Job,
    *,
    retry: bool | int = True,
    retry_queue: str | None = None,
    dead: bool | None = None,
    backtrace: bool | int | None = None,
) -> Job:
    """The job with its registered options (``@app.job(..., retry=3)``) where the payload leaves
    them open.

    Sidekiq's client writes a class's ``sidekiq_options`` into the payload at push time; a job
    pushed by class name (from Ruby, the CLI, a plain client) carries only Sidekiq's defaults,
    so the worker applies the registration instead: ``retry`` when the payload says ``true`` (the
    default, which names no limit) or nothing, the others when the payload has no such key. A
    payload value (``retry: 5``, ``retry: false``, ``dead: true``, ...) always wins.
    """
    changes: dict[str, object] = {}
    if retry is not True and (job.retry is None or job.retry is True):
        changes["retry"] = retry
    if retry_queue is not None and job.retry_queue is None:
        changes["retry_queue"] = retry_queue
    if dead is not None and job.dead is None:
        changes["dead"] = dead
    if backtrace is not None and job.backtrace is None:
        changes["backtrace"] = backtrace
    return job.replace(**changes) if changes else job


def _exhausted(job: Job, now: float, profile: Profile = "sidekiq7") -> bool:
    by_time = job.retry_for is not None and (job.failed_at or now) + job.retry_for < now
    if rules(profile).retry_for_replaces_count and job.retry_for is not None:
        return by_time
    count = job.retry_count or 0
    # Sidekiq 7.1.3 to 8.0: retry_for bounds the time since the first failure as well.
    return count >= max_retries(job.retry) or by_time


def _retries_on(job: Job, path: Literal["local", "global"], default_retry: bool | int) -> bool:
    retry = job.retry
    if retry is None:
        # Global path (job never resolved): Sidekiq retries only if msg["retry"] is truthy.
        if path == "global":
            return False
        retry = default_retry
    # Ruby truthiness: 0 is true (straight to the dead set), only false/nil stop retries.
    return retry is not False


def next_attempt(
    job: Job,
    exc: BaseException,
    *,
    queue: str,
    now: float,
    rng: random.Random,
    path: Literal["local", "global"] = "local",
    default_retry: bool | int = True,
    retry_in: RetryIn | None = None,
    profile: Profile = "sidekiq7",
) -> Decision:
    """Sidekiq's decision for a job that raised ``exc`` after being fetched from ``queue``.

    ``path`` is ``"global"`` when the job could not even be resolved (unknown class): then a
    missing ``retry`` key drops the job. ``default_retry`` is the registered job's option, used
    when the payload has no ``retry`` key on the local path. ``profile`` picks the version rules
    (see the module docstring).
    """
    if not _retries_on(job, path, default_retry):
        return Discard(job, "retry disabled")
    failed = record_failure(job, exc, queue=queue, now=now)
    count = failed.retry_count or 0
    custom = _custom_delay(retry_in, count, exc, failed)
    if custom == "discard":
        return Discard(failed, "retry_in returned discard")
    if custom == "kill" or _exhausted(failed, now, profile):
        return Discard(failed, "dead: false") if failed.dead is False else Dead(failed)
    base = float(custom) if isinstance(custom, float) else float(count**4 + 15)
    return Retry(at=now + base + jitter(count, rng, profile), payload=failed)


def _custom_delay(
    hook: RetryIn | None, count: int, exc: BaseException, job: Job
) -> float | Literal["kill", "discard"] | None:
    """The ``retry_in`` hook's answer: seconds (> 0), ``kill``, ``discard``, or None (default).

    A hook that raises falls back to the default delay, as Sidekiq does.
    """
    if hook is None:
        return None
    try:
        value = hook(count, exc, job)
    except Exception:
        return None
    if value in ("kill", "discard"):
        return value  # type: ignore[return-value]
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None
