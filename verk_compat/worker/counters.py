"""Processed/failed counters, flushed to Sidekiq's stat keys in batches.

Counted as Sidekiq counts them: ``processed`` is every execution (failures included), ``failed``
every failed execution. Counts accumulate in memory and are added (``lua/stats.lua``, all or
nothing) to whatever pipeline flushes the acknowledgements, so stats cost no round trip of their
own.

Keys touched: ``stat:processed``, ``stat:failed``, ``stat:processed:<YYYY-MM-DD>``,
``stat:failed:<YYYY-MM-DD>`` (UTC day; INCRBY, EXPIRE five years like Sidekiq >= 6.5).
"""

from __future__ import annotations

import datetime as _dt

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

    def script_args(
        self, counts: tuple[int, int], day: _dt.date | None = None
    ) -> tuple[list[str], list[int]]:
        """KEYS and ARGV of ``lua/stats.lua`` adding ``counts`` (all or nothing, even on a
        Redis at maxmemory: see the script)."""
        day = day or _dt.datetime.now(_dt.UTC).date()
        k = self.keys
        keys = [k.stat_processed, k.stat_processed_day(day), k.stat_failed, k.stat_failed_day(day)]
        return keys, [counts[0], counts[1], DAILY_TTL]
