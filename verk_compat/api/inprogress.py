"""In-progress lists per process identity, live or dead, and recovery of a dead one's jobs.

A verk-compat worker keeps each fetched job in ``inprogress:<queue>:<identity>`` until it is
acknowledged. While the worker lives, Ruby's Web counts those jobs as busy; once it dies they are
in no queue, no busy count and no set until a live worker's orphan recovery
(``verk_compat.worker.orphans``) moves them back. :class:`InProgress` shows them per identity
(``verk-compat processes``) and :meth:`InProgress.recover` requeues one identity's lists without
starting a worker (``verk-compat recover``), with the same script and checks: a live identity
(its ``<identity>`` heartbeat hash still exists) is refused unless forced. Only lists whose owner
has this project's identity shape are listed (a Verk node's lists are shown with its process).

Keys touched: ``inprogress:*`` (SCAN, LRANGE), ``<identity>`` (EXISTS), ``queues`` (SMISMEMBER),
``queue:<q>`` (via ``lua/requeue.lua``).
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.exceptions import ResponseError

from verk_compat.api.records import Base, JobRecord
from verk_compat.api.values import decode_or_none, shown, text, wire
from verk_compat.lua import script

__all__ = ["InProgress", "InProgressList", "ProcessAlive"]


class ProcessAlive(Exception):
    """Recovery refused: the identity's heartbeat is fresh (its hash still exists)."""


@dataclass(frozen=True, slots=True)
class InProgressList:
    """One in-progress list: whose, of which queue, how many jobs, and the owner's state."""

    identity: str
    queue: str
    size: int
    alive: bool
    key: str
    #: The jobs, oldest fetched last (an in-progress list holds at most a few per thread).
    records: tuple[JobRecord, ...] = ()

    def summary(self) -> dict[str, object]:
        return {
            "identity": shown(self.identity),
            "queue": shown(self.queue),
            "size": self.size,
            "alive": self.alive,
            "jobs": [{"jid": rec.jid, "class": rec.display_class} for rec in self.records],
        }


class InProgress(Base):
    """Every in-progress list of verk-compat processes, with its owner's liveness."""

    def lists(self) -> list[InProgressList]:
        """Non-empty lists, sorted by identity then queue. A key of the wrong type is skipped."""
        found = []
        for key in self.redis.scan_iter(match=self.keys.inprogress_pattern(), count=500):
            reading = self._reading(key)
            if reading is None:
                continue
            queue, owner = reading
            try:
                raws = [wire(text(raw)) for raw in self.redis.lrange(key, 0, -1)]
            except ResponseError:
                continue  # WRONGTYPE: not a list, nothing this command can move
            if raws:
                alive = bool(self.redis.exists(wire(self.keys.process(owner))))
                records = tuple(JobRecord(raw, decode_or_none(raw)) for raw in raws)
                found.append(InProgressList(owner, queue, len(raws), alive, text(key), records))
        return sorted(found, key=lambda x: (x.identity, x.queue))

    def by_identity(self) -> dict[str, list[InProgressList]]:
        """:meth:`lists` grouped by owner identity."""
        grouped: dict[str, list[InProgressList]] = {}
        for entry in self.lists():
            grouped.setdefault(entry.identity, []).append(entry)
        return grouped

    def recover(self, identity: str, *, force: bool = False) -> dict[str, int]:
        """Move every in-progress job of ``identity`` back to the pop end of its queue (in
        fetch order, ``lua/requeue.lua``); returns ``{queue: jobs moved}``.

        Raises :class:`ProcessAlive` if the identity's heartbeat hash exists, unless ``force``.
        Without ``force`` the script checks it again in the same atomic step, so a process that
        beats in the meantime keeps its jobs.
        """
        owner_key = wire(self.keys.process(identity))
        if not force and self.redis.exists(owner_key):
            raise ProcessAlive(
                f"{shown(identity)} is alive (its heartbeat hash exists): "
                "its jobs are running; use --force to requeue them anyway"
            )
        entries = [entry for entry in self.lists() if entry.identity == identity]
        return self._requeue(entries, None if force else owner_key)

    def recover_dead(self) -> dict[str, dict[str, int]]:
        """:meth:`recover` every identity whose heartbeat hash is gone: what a worker's orphan
        recovery does at start, without starting one; ``{identity: {queue: jobs moved}}``.
        The script checks each owner's hash again, so one that beat since the listing keeps
        its jobs."""
        dead: dict[str, list[InProgressList]] = {}
        for entry in self.lists():
            if not entry.alive:
                dead.setdefault(entry.identity, []).append(entry)
        return {
            identity: self._requeue(entries, wire(self.keys.process(identity)))
            for identity, entries in dead.items()
        }

    def _requeue(self, entries: list[InProgressList], owner_key: bytes | None) -> dict[str, int]:
        """``lua/requeue.lua`` on each list (refused by the script while ``owner_key`` exists,
        when given); ``{queue: jobs moved}``."""
        moved: dict[str, int] = {}
        for entry in entries:
            keys = [wire(entry.key), wire(self.keys.queue(entry.queue))]
            count = int(
                script("requeue")(self.redis, keys if owner_key is None else [*keys, owner_key])
            )
            if count:
                moved[entry.queue] = moved.get(entry.queue, 0) + count
        return moved

    def _reading(self, key: bytes) -> tuple[str, str] | None:
        splits = self.keys.inprogress_owners(text(key))
        if len(splits) <= 1:
            return splits[0] if splits else None
        known = self.redis.smismember(self.keys.queues, [wire(q) for q, _ in splits])
        return self.keys.choose_inprogress_reading(splits, known)
