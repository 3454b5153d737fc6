"""``Queue``: one Sidekiq queue list, as ``Sidekiq::Queue`` sees it.

Keys touched: ``queues`` (SSCAN, SREM on clear), ``queue:<name>`` (LLEN, LINDEX -1, LRANGE,
LREM of exact bytes, UNLINK on clear), ``queue:*`` (SCAN: Verk's queues are in no ``queues``
set); all under the namespace of ``keys``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from redis import Redis
from redis.exceptions import ResponseError

from verk_compat.api.records import Base, JobRecord
from verk_compat.api.values import decode_or_none, payload_latency, text, unreadable_reason, wire
from verk_compat.codec.job import now
from verk_compat.keys import Keys

__all__ = ["PAGE", "Queue"]

#: Entries read per LRANGE while iterating (Sidekiq reads 50).
PAGE = 100


class Queue(Base):
    """The list ``queue:<name>``: index 0 is the newest job, -1 the next to run.

    Args:
        redis: A sync client (bytes replies).
        name: The queue name (``default`` by default).
        keys: Key builder (namespace); plain Sidekiq keys when ``None``.
    """

    def __init__(self, redis: Redis, name: str = "default", *, keys: Keys | None = None) -> None:
        super().__init__(redis, keys)
        self.name = name
        self.key = self.keys.queue(name)
        self._key = wire(self.key)  # the exact bytes, also for a name that is not UTF-8

    @classmethod
    def all(
        cls, redis: Redis, keys: Keys | None = None, problems: list[str] | None = None
    ) -> list[Queue]:
        """Every queue (see :meth:`names`), sorted by name.

        Names that are not UTF-8 are kept exactly (see :func:`~verk_compat.api.values.text`).
        When ``queues`` is not a set, only the ``queue:*`` lists: the reason is appended to
        ``problems`` if given, else the ``ResponseError`` is raised.
        """
        keys = keys or Keys()
        return [cls(redis, name, keys=keys) for name in cls.names(redis, keys, problems)]

    @staticmethod
    def names(
        redis: Redis, keys: Keys | None = None, problems: list[str] | None = None
    ) -> list[str]:
        """Queue names in the ``queues`` set, and those of ``queue:*`` lists that are missing
        from it (Verk writes no ``queues`` set), sorted."""
        keys = keys or Keys()
        try:
            names = {text(n) for n in redis.sscan_iter(keys.queues)}
        except ResponseError as exc:
            if problems is None:
                raise
            problems.append(f"unreadable {keys.queues}: {exc}")
            names = set()
        found = redis.scan_iter(match=keys.queue_pattern(), _type="list")
        names |= {keys.queue_name(text(key)) for key in found}
        return sorted(names)

    def size(self) -> int:
        """LLEN of the queue."""
        return int(self.redis.llen(self._key))

    def latency(self, at: float | None = None) -> float:
        """Seconds the oldest job has waited: ``now - enqueued_at`` (else ``created_at``)."""
        oldest: Any = self.redis.lindex(self._key, -1)
        return payload_latency(oldest, now() if at is None else at)

    def oldest_unreadable(self) -> str:
        """Why the oldest job (the one latency is read from) is not a job; ``""`` if it is."""
        oldest: Any = self.redis.lindex(self._key, -1)
        return "" if oldest is None else unreadable_reason(oldest)

    def __iter__(self) -> Iterator[JobRecord]:
        """Every job, newest first, paged; jobs taken meanwhile shift the pages like Sidekiq's."""
        for raw in self._raw_records():
            yield JobRecord(raw, decode_or_none(raw))

    def find_job(self, jid: str) -> JobRecord | None:
        """The first job with ``jid`` (a scan of the whole list: slow on long queues)."""
        needle = jid.encode()
        for record in self._raw_records():
            if needle in record:
                found = JobRecord(record, decode_or_none(record))
                if found.jid == jid:
                    return found
        return None

    def _raw_records(self) -> Iterator[bytes]:
        start = 0
        while True:
            page: Any = self.redis.lrange(self._key, start, start + PAGE - 1)
            if not page:
                return
            yield from page
            start += len(page)

    def delete(self, record: JobRecord | bytes) -> bool:
        """LREM one copy of the exact bytes; True if a job was removed."""
        raw = record if isinstance(record, bytes) else record.raw
        removed: Any = self.redis.lrem(self._key, 1, raw)  # type: ignore[arg-type]
        return int(removed) > 0

    def clear(self) -> int:
        """UNLINK the list and SREM the name from ``queues`` (one MULTI); jobs removed."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.llen(self._key)
        pipe.unlink(self._key)
        pipe.srem(self.keys.queues, wire(self.name))
        size, _unlinked, _removed = pipe.execute()
        return int(size)
