"""``ScheduledSet``, ``RetrySet`` and ``DeadSet``: Sidekiq's sorted sets of jobs.

Members are job JSON, scores float epoch seconds (when to run, or when the job died). Every
action names a member by its exact bytes as read (docs/wire.md §3.6) and is atomic:

* ``retry`` / ``add_to_queue``: ``lua/enqueue_due.lua`` ZREMs the member and, only if it was
  removed, LPUSHes the re-encoded job (fresh ``enqueued_at``; ``retry`` also decrements
  ``retry_count`` as ``SortedEntry#retry`` does) and SADDs its queue name.
* ``kill``: ``lua/kill.lua`` ZREMs the member and, only if it was removed, ZADDs the same bytes
  to ``dead`` scored now, trimmed like ``DeadSet#kill`` (180 days, 10,000 jobs).

A Verk member (``args`` a JSON string) is listed in Sidekiq terms and pushed back in Verk's
format (``enqueued_at`` now, in integer seconds; Verk's ``retry_count`` kept, as Verk keeps it).

Keys touched: ``schedule``, ``retry``, ``dead`` (ZCARD, ZREVRANGE, ZSCAN, ZREM, UNLINK, and the
scripts), ``queue:<q>`` and ``queues`` (LPUSH/SADD through ``enqueue_due``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from redis import Redis

from verk_compat.api.records import Base, SortedEntry
from verk_compat.api.values import decode_or_none, retry_payload, scan_pattern, verk_requeue
from verk_compat.codec.job import Profile, now
from verk_compat.codec.verk import is_verk
from verk_compat.errors import InvalidJob
from verk_compat.keys import Keys
from verk_compat.lua import Arg, dead_trim, script

__all__ = ["DeadSet", "JobSet", "RetrySet", "ScheduledSet"]

#: Members read per ZREVRANGE while iterating, and moved per pipeline by the ``*_all`` actions.
PAGE = 100


class JobSet(Base):
    """A sorted set of jobs; iteration yields the highest score first, like ``JobSet#each``.

    Args:
        redis: A sync client (bytes replies).
        keys: Key builder (namespace); plain Sidekiq keys when ``None``.
        profile: Wire profile of the payloads pushed back to queues (``sidekiq7``: float s).
    """

    #: The Sidekiq name of the set (``schedule``, ``retry``, ``dead``).
    name: ClassVar[str] = ""

    def __init__(
        self, redis: Redis, *, keys: Keys | None = None, profile: Profile = "sidekiq7"
    ) -> None:
        super().__init__(redis, keys)
        self.profile = profile
        self.key: str = getattr(self.keys, self.name)

    def size(self) -> int:
        """ZCARD of the set."""
        return int(self.redis.zcard(self.key))

    def __iter__(self) -> Iterator[SortedEntry]:
        start = 0
        while True:
            page: Any = self.redis.zrevrange(self.key, start, start + PAGE - 1, withscores=True)
            if not page:
                return
            for raw, score in page:
                yield SortedEntry(raw=raw, job=decode_or_none(raw), score=float(score))
            start += len(page)

    def find_job(self, jid: str) -> SortedEntry | None:
        """The entry whose job has ``jid`` (ZSCAN for members containing it, then decode)."""
        member: Any
        for member, score in self.redis.zscan_iter(self.key, match=scan_pattern(jid)):
            job = decode_or_none(member)
            if job is not None and job.jid == jid:
                return SortedEntry(raw=member, job=job, score=float(score))
        return None

    def delete(self, entry: SortedEntry | bytes) -> bool:
        """ZREM the exact member; True if it was there."""
        raw = entry if isinstance(entry, bytes) else entry.raw
        return int(self.redis.zrem(self.key, raw)) > 0

    def clear(self) -> int:
        """UNLINK the whole set (one MULTI with its ZCARD); returns how many jobs went."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.zcard(self.key)
        pipe.unlink(self.key)
        size, _unlinked = pipe.execute()
        return int(size)

    def delete_all(self) -> int:
        """Same as :meth:`clear` (Web's "Delete All")."""
        return self.clear()

    def retry(self, entry: SortedEntry) -> bool:
        """Push the job to its queue now with ``retry_count`` - 1 (``SortedEntry#retry``).

        Returns:
            True if this call moved it; False if the member was already gone.

        Raises:
            InvalidJob: the member is not a job payload (delete or kill it instead).
        """
        return int(self._push(self.redis, entry, decrement=True)) == 1

    def add_to_queue(self, entry: SortedEntry) -> bool:
        """Push the job to its queue now, unchanged but for ``enqueued_at`` (Web's button)."""
        return int(self._push(self.redis, entry, decrement=False)) == 1

    def retry_all(self) -> int:
        """Retry every job; invalid members stay. Returns how many this call moved."""
        return self._push_all(decrement=True)

    def add_all_to_queue(self) -> int:
        """:meth:`add_to_queue` for every job; invalid members stay. Returns how many moved."""
        return self._push_all(decrement=False)

    def _push(self, client: Any, entry: SortedEntry, *, decrement: bool) -> Any:
        job = entry.job
        if job is None:
            raise InvalidJob(f"{self.name}: member is not a job payload", raw=entry.raw)
        stamp = now()
        if is_verk(entry.raw):
            queue, payload = verk_requeue(entry.raw, stamp)
        else:
            queue, fresh = retry_payload(job, now=stamp, decrement=decrement)
            payload = fresh.encode(self.profile)
        keys = [self.key, self.keys.queue(queue), self.keys.queues, self.keys.dead]
        args: list[Arg] = [entry.raw, payload, queue, stamp]
        return script("enqueue_due")(client, keys, args)

    def _push_all(self, *, decrement: bool) -> int:
        def act(pipe: Any, entry: SortedEntry) -> bool:
            if entry.job is None:
                return False
            self._push(pipe, entry, decrement=decrement)
            return True

        return self._each_page(act)

    def _each_page(self, act: Callable[[Any, SortedEntry], bool]) -> int:
        """Apply ``act`` to every member, a page per pipeline, lowest score first.

        ``act`` queues a script on the pipeline and returns True, or skips the entry (False);
        skipped members stay in the set, so the next page starts after them.
        """
        moved = skipped = 0
        while True:
            page: Any = self.redis.zrange(self.key, skipped, skipped + PAGE - 1, withscores=True)
            if not page:
                return moved
            pipe = self.redis.pipeline(transaction=False)
            for raw, score in page:
                if not act(pipe, SortedEntry(raw=raw, job=decode_or_none(raw), score=float(score))):
                    skipped += 1
            moved += sum(int(reply) for reply in pipe.execute())


class _Killable(JobSet):
    """A set whose jobs can be moved to ``dead`` (retry and schedule)."""

    def kill(self, entry: SortedEntry) -> bool:
        """Move the exact member to ``dead`` (scored now, trimmed); True if this call moved it."""
        return int(self._kill(self.redis, entry.raw)) == 1

    def kill_all(self) -> int:
        """Kill every member (invalid ones too); returns how many this call moved."""

        def act(pipe: Any, entry: SortedEntry) -> bool:
            self._kill(pipe, entry.raw)
            return True

        return self._each_page(act)

    def _kill(self, client: Any, raw: bytes) -> Any:
        stamp = now()
        args: list[Arg] = [raw, stamp, *dead_trim(stamp)]
        return script("kill")(client, [self.key, self.keys.dead], args)


class ScheduledSet(_Killable):
    """``schedule``: jobs waiting for their time; ``add_to_queue`` runs one now."""

    name = "schedule"


class RetrySet(_Killable):
    """``retry``: failed jobs waiting for their next attempt."""

    name = "retry"


class DeadSet(JobSet):
    """``dead``: jobs out of retries or killed, scored by time of death."""

    name = "dead"
