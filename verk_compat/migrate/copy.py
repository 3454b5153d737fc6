"""``copy``: every Sidekiq data key of one Redis copied to another; the source is not touched.

Each data key the ``namespace`` plan would move (queues, ``queues``, ``schedule``, ``retry``,
``dead``, stat counters; never process hashes, signals or locks) is copied with ``DUMP`` and
``RESTORE``: the value, its members, scores, order and bytes exactly, in one command per key.
A key the target already holds is not overwritten: it is reported as a conflict and the run is
not OK (merge it with ``move``, or clear the target first). ``move`` is the old behaviour: each
job moves once, and is removed from the source.

Keys touched: on the source, read only (SCAN, TYPE, DUMP, PTTL); on the target, RESTORE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from redis import Redis
from redis.exceptions import ResponseError

from verk_compat.migrate import plans
from verk_compat.migrate.engine import same_server

__all__ = ["CopyResult", "copy_keys"]


@dataclass
class CopyResult:
    """What a copy did, key by key."""

    copied: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    #: Why a skipped key is left on purpose; the others are :attr:`unhandled`.
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.conflicts

    @property
    def unhandled(self) -> list[str]:
        """Skipped keys with no reason to be left (the CLI exits 1 unless --skip-unhandled)."""
        return [key for key in self.skipped if key not in self.reasons]

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": "copy",
            "ok": self.ok,
            "copied": self.copied,
            "conflicts": self.conflicts,
            "skipped": self.skipped,
            "unhandled": self.unhandled,
            "ignored": self.reasons,
        }


def copy_keys(src: Redis, dst: Redis, *, namespace: str = "", dry_run: bool = False) -> CopyResult:
    """Copy the Sidekiq data keys of ``namespace`` from ``src`` to ``dst`` (another server).

    Raises:
        ValueError: ``dst`` is the same server and database as ``src``.
    """
    if dst is src or same_server(src, dst):
        raise ValueError("copy needs another server (--to-url); to rename keys use 'namespace'")
    plan = plans.namespace(src, from_ns=namespace, to_ns=namespace)
    result = CopyResult(skipped=list(plan.skipped), reasons=dict(plan.reasons))
    for unit in plan.units:
        key = unit.source
        if dst.exists(key):
            result.conflicts.append(key)
            continue
        if not dry_run:
            dumped: Any = src.dump(key)
            if dumped is None:  # gone since the scan
                continue
            ttl = int(src.pttl(key))
            try:
                dst.restore(key, max(ttl, 0), dumped)
            except ResponseError as exc:  # BUSYKEY: written on the target meanwhile
                result.conflicts.append(f"{key} ({exc})")
                continue
        result.copied.append(key)
    return result
