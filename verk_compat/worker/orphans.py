"""Orphan recovery: in-progress lists of dead processes go back to their queues.

A process is dead when its ``<identity>`` heartbeat hash no longer exists (60 s TTL). Any live
process may recover, but only one at a time: it takes ``verk:orphan_lock`` with ``SET NX EX``,
SCANs ``inprogress:*`` (namespace escaped), and for each list of a dead identity runs
``lua/requeue.lua``, which checks again that the owner's hash is gone and moves the whole list
back to the pop end of its queue in original order, in one atomic step. Queue names and
hostnames may both contain ``:`` (:meth:`~verk_compat.keys.Keys.inprogress_splits`); a key of
the wrong type is logged and skipped. Only lists whose owner has this project's identity
shape (``host:pid:hex12``) are considered: a Verk node's ``inprogress:<q>:<node id>`` (even for
a queue named with ``:``) is Verk's to requeue.

Keys touched: ``verk:orphan_lock``, ``inprogress:*``, ``<identity>`` (EXISTS), ``queues``
(SMISMEMBER), ``queue:<q>``.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from verk_compat.keys import Keys
from verk_compat.lua import script

__all__ = ["LOCK_TTL", "recover_orphans"]

log = logging.getLogger(__name__)

#: Seconds the lock lives if its holder dies mid-recovery.
LOCK_TTL = 30


async def recover_orphans(redis: Redis, keys: Keys, identity: str) -> int:
    """Requeue the in-progress lists of dead processes; returns the number of jobs moved.

    Returns 0 without doing anything if another process holds the lock. A key that cannot be
    recovered (not a list, its queue key not a list, a name that is no in-progress key) is
    logged and skipped: the rest are still recovered.
    """
    if not await redis.set(keys.orphan_lock, identity, nx=True, ex=LOCK_TTL):
        return 0
    moved = 0
    try:
        async for key in redis.scan_iter(match=keys.inprogress_pattern(), count=500):
            try:
                moved += await _recover_list(redis, keys, identity, key)
            except ResponseError as exc:
                # WRONGTYPE (a key named like an in-progress list, or a queue key of another
                # type) must not end the scan: the other dead processes' jobs still come back.
                log.error("orphan recovery skipped %r: %s", key, exc)
    finally:
        # Release only our own lock; a stale one expires by itself.
        if await redis.get(keys.orphan_lock) == identity.encode():
            await redis.delete(keys.orphan_lock)
    return moved


async def _recover_list(redis: Redis, keys: Keys, identity: str, key: bytes) -> int:
    """Requeue one in-progress list if its owner is dead; returns the number moved."""
    splits = keys.inprogress_owners(key)  # a Verk node's list is Verk's
    if not splits or key.endswith(b":" + identity.encode()):
        return 0  # not an in-progress key, or ours (our managers reconcile their own)
    for _, owner in splits:
        if await redis.exists(keys.process(owner)):
            return 0  # a live owner, whichever reading of the key names it
    queue, owner = splits[0]
    if len(splits) > 1:
        known = await redis.smismember(keys.queues, [q for q, _ in splits])
        queue, owner = keys.choose_inprogress_reading(splits, known)
    # The script checks the owner's hash again, atomically: a beat that lands after the
    # EXISTS above (a stalled process coming back) keeps its jobs where they are.
    owner_key = keys.process(owner)
    count = int(await script("requeue").acall(redis, [key, keys.queue(queue), owner_key], []))
    if count:
        log.warning("requeued %d orphaned jobs of dead process %s to %s", count, owner, queue)
    return count
