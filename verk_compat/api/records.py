"""Records the admin API yields: a queued job and a sorted-set entry, both with their raw bytes.

Every action on a record (LREM, ZREM, a move) uses ``raw``, the exact bytes read from Redis,
never a re-serialization (docs/wire.md §3.6). ``job`` is ``None`` for a payload that does not decode
(Sidekiq's ``JobRecord`` then has a nil item); such a record can still be deleted or killed.

Keys touched: none.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

from redis import Redis

from verk_compat.api.values import at_time, unreadable_reason
from verk_compat.codec.activejob import display_class
from verk_compat.codec.backtrace import decode_backtrace
from verk_compat.codec.job import Job
from verk_compat.codec.verk import is_verk
from verk_compat.errors import InvalidJob
from verk_compat.keys import Keys

__all__ = ["Base", "JobRecord", "SortedEntry", "stored_backtrace"]


def stored_backtrace(value: str | list[str], *, verk: bool = False) -> list[str]:
    """An ``error_backtrace`` as lines: any Sidekiq version's encoding, or (``verk``) Verk's
    plain text, the formatted frames as one string.

    Raises:
        InvalidJob: a Sidekiq ``value`` in no known encoding.
    """
    if verk and isinstance(value, str):
        return [line.strip() for line in value.splitlines() if line.strip()]
    return decode_backtrace(value)


class Base:
    """Holds the client and the key builder every API object works through."""

    def __init__(self, redis: Redis, keys: Keys | None = None) -> None:
        self.redis = redis
        self.keys = keys or Keys()


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One payload as stored: ``raw`` bytes and the decoded ``job`` (``None`` if invalid)."""

    raw: bytes
    job: Job | None

    @property
    def jid(self) -> str | None:
        """The job id, or ``None`` for an invalid payload."""
        return None if self.job is None else self.job.jid

    @property
    def class_name(self) -> str | None:
        """The ``class`` key (see :attr:`display_class` for what Sidekiq Web shows)."""
        return None if self.job is None else self.job.class_name

    @property
    def display_class(self) -> str | None:
        """The class Sidekiq Web shows: an ActiveJob's Rails class rather than its wrapper."""
        return None if self.job is None else display_class(self.job)

    def unreadable(self) -> list[str]:
        """What cannot be read: why the payload is not a job, or its args cannot be read."""
        job = self.job
        if job is not None:
            try:
                job.args  # noqa: B018
            except InvalidJob as exc:
                return [str(exc)]
            return []
        return [unreadable_reason(self.raw) or "payload: not a job"]

    def backtrace(self) -> list[str] | None:
        """The stored ``error_backtrace`` decoded (:func:`stored_backtrace`), or None if there
        is none (or the payload is not a Sidekiq job: see :func:`stored_backtrace`).

        Raises:
            InvalidJob: the value is in no known encoding.
        """
        value = None if self.job is None else self.job.error_backtrace
        return stored_backtrace(value, verk=is_verk(self.raw)) if value else None

    def summary(self) -> dict[str, Any]:
        """Plain JSON-ready fields (the ``raw`` payload as text included; ``unreadable`` lists
        what could not be read)."""
        job = self.job
        data: dict[str, Any] = {"jid": self.jid, "class": self.class_name}
        problems = self.unreadable()
        if job is not None:
            data.update(
                queue=job.queue,
                args=None if JobRecord.unreadable(self) else job.args,
                created_at=job.created_at,
                enqueued_at=job.enqueued_at,
                retry_count=job.retry_count,
                error_class=job.error_class,
                error_message=job.error_message,
                failed_at=job.failed_at,
            )
        data["payload"] = self.raw.decode("utf-8", "replace")
        if problems:
            data["unreadable"] = problems
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class SortedEntry(JobRecord):
    """A :class:`JobRecord` that is a member of ``schedule``, ``retry`` or ``dead``, with its
    score (float epoch seconds)."""

    score: float

    @property
    def at(self) -> _dt.datetime:
        """The score as an aware UTC time (when it runs, or when it died).

        Raises:
            ValueError: no date shows the score (``inf``, ``1e20``): see :meth:`unreadable`.
        """
        at = at_time(self.score)
        if at is None:
            raise ValueError(f"score {self.score!r} is not a time")
        return at

    def unreadable(self) -> list[str]:
        """What cannot be read: a score no date shows, a payload that is not a job."""
        problems = [] if at_time(self.score) else [f"score: {self.score!r} is not a time"]
        return problems + JobRecord.unreadable(self)

    def summary(self) -> dict[str, Any]:
        """Plain JSON-ready fields: score, ``at`` (ISO-8601, ``None`` if the score is not a
        time) and the job's fields."""
        at = at_time(self.score)
        at_text = None if at is None else at.isoformat()
        return {"score": self.score, "at": at_text, **JobRecord.summary(self)}
