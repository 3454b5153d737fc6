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

from verk_compat.codec.job import Job
from verk_compat.keys import Keys

__all__ = ["Base", "JobRecord", "SortedEntry"]


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
        """The ``class`` key (``display_class``/``wrapped`` are left to the caller)."""
        return None if self.job is None else self.job.class_name

    def summary(self) -> dict[str, Any]:
        """Plain JSON-ready fields (the ``raw`` payload as text included)."""
        job = self.job
        data: dict[str, Any] = {"jid": self.jid, "class": self.class_name}
        if job is not None:
            data.update(
                queue=job.queue,
                args=job.args,
                created_at=job.created_at,
                enqueued_at=job.enqueued_at,
                retry_count=job.retry_count,
                error_class=job.error_class,
                error_message=job.error_message,
                failed_at=job.failed_at,
            )
        data["payload"] = self.raw.decode("utf-8", "replace")
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class SortedEntry(JobRecord):
    """A :class:`JobRecord` that is a member of ``schedule``, ``retry`` or ``dead``, with its
    score (float epoch seconds)."""

    score: float

    @property
    def at(self) -> _dt.datetime:
        """The score as an aware UTC time (when it runs, or when it died)."""
        return _dt.datetime.fromtimestamp(self.score, _dt.UTC)

    def summary(self) -> dict[str, Any]:
        """Plain JSON-ready fields: score, ``at`` (ISO-8601) and the job's fields."""
        return {"score": self.score, "at": self.at.isoformat(), **JobRecord.summary(self)}
