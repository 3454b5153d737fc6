"""Orphan recovery: in-progress lists of dead processes go back to their queues.

A process is dead when its ``<identity>`` heartbeat hash no longer exists (60 s TTL). Any live
process may recover, but only one at a time: it takes ``verk:orphan_lock`` with ``SET NX EX``,
SCANs ``inprogress:*``, and for each list of a dead identity runs ``lua/requeue.lua``, which
checks again that the owner's hash is gone and moves the whole list back to the pop end of its
queue in original order, in one atomic step. Only lists whose owner has this project's identity
shape (``host:pid:hex12``) are considered: a Verk node's ``inprogress:<q>:<node id>`` (even for
a queue named with ``:``) is Verk's to requeue.

Keys touched: ``verk:orphan_lock``, ``inprogress:*``, ``<identity>`` (EXISTS), ``queue:<q>``.
"""

from __future__ import annotations

import logging
import re

from redis.asyncio import Redis

from verk_compat.keys import Keys
from verk_compat.lua import script

__all__ = ["LOCK_TTL", "recover_orphans"]

log = logging.getLogger(__name__)

#: Seconds the lock lives if its holder dies mid-recovery.
LOCK_TTL = 30
#: A verk-compat process identity (``heartbeat.make_identity``).
_IDENTITY = re.compile(r"[^:]+:\d+:[0-9a-f]{12}")


async def recover_orphans(redis: Redis, keys: Keys, identity: str) -> int:
    """Requeue the in-progress lists of dead processes; returns the number of jobs moved.

    Returns 0 without doing anything if another process holds the lock.
    """
    if not await redis.set(keys.orphan_lock, identity, nx=True, ex=LOCK_TTL):
        return 0
    moved = 0
    try:
        async for key in redis.scan_iter(match=keys.inprogress_pattern(), count=500):
            try:
                queue, owner = keys.inprogress_parts(key)
            except ValueError:
                continue
            if not _IDENTITY.fullmatch(owner):
                continue  # not a verk-compat process's list (a Verk node's, say)
            if owner == identity or await redis.exists(keys.process(owner)):
                continue
            # The script checks the owner's hash again, atomically: a beat that lands after
            # the EXISTS above (a stalled process coming back) keeps its jobs where they are.
            owner_key = keys.process(owner)
            count = int(
                await script("requeue").acall(redis, [key, keys.queue(queue), owner_key], [])
            )
            if count:
                log.warning(
                    "requeued %d orphaned jobs of dead process %s to %s", count, owner, queue
                )
            moved += count
    finally:
        # Release only our own lock; a stale one expires by itself.
        if await redis.get(keys.orphan_lock) == identity.encode():
            await redis.delete(keys.orphan_lock)
    return moved
