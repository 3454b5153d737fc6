"""Processed/failed counters, flushed to Sidekiq's stat keys in batches.

Counted as Sidekiq counts them: ``processed`` is every execution (failures included), ``failed``
every failed execution. Counts accumulate in memory and are added to whatever pipeline flushes
the acknowledgements, so stats cost no round trip of their own.

Keys touched: ``stat:processed``, ``stat:failed``, ``stat:processed:<YYYY-MM-DD>``,
``stat:failed:<YYYY-MM-DD>`` (UTC day; INCRBY, EXPIRE five years like Sidekiq >= 6.5).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from verk_compat.keys import Keys

__all__ = ["DAILY_TTL", "Stats"]

#: Sidekiq keeps the daily counters for five years.
DAILY_TTL = 5 * 365 * 24 * 60 * 60


class Stats:
    """In-memory counters since the last flush."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self.processed = 0
        self.failed = 0

    def take(self) -> tuple[int, int]:
        """The counts so far, resetting them (hand them back with :meth:`give_back`)."""
        counts = (self.processed, self.failed)
        self.processed = self.failed = 0
        return counts

    def give_back(self, counts: tuple[int, int]) -> None:
        """Re-add counts whose flush failed, so a Redis outage loses no count."""
        self.processed += counts[0]
        self.failed += counts[1]

    def queue_into(self, pipe: Any, counts: tuple[int, int], day: _dt.date | None = None) -> None:
        """Queue the INCRBY/EXPIRE commands for ``counts`` on a (sync or async) pipeline."""
        day = day or _dt.datetime.now(_dt.UTC).date()
        processed, failed = counts
        if processed:
            pipe.incrby(self.keys.stat_processed, processed)
            pipe.incrby(self.keys.stat_processed_day(day), processed)
            pipe.expire(self.keys.stat_processed_day(day), DAILY_TTL)
        if failed:
            pipe.incrby(self.keys.stat_failed, failed)
            pipe.incrby(self.keys.stat_failed_day(day), failed)
            pipe.expire(self.keys.stat_failed_day(day), DAILY_TTL)
