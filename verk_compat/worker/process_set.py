"""The worker's view of ``processes``: prune dead members, count live ones (Sidekiq's rules).

A member of ``processes`` is live while its ``<identity>`` hash has ``info`` (the heartbeat
sets it with a 60 s TTL); a crashed process leaves its member behind. :func:`cleanup` is
Sidekiq's ``ProcessSet#cleanup``: at most once a minute across all callers
(``SET process_cleanup 1 NX EX 60``), SREM every member whose hash has no ``info``.
:func:`live_count` counts the members whose hash still has ``info``, which the scheduler uses
for its poll interval (5 s times the number of processes): stale members would stretch it
(12 crashed pods made a job due in 3 s run after 63 s). A member that is not UTF-8 is neither
counted nor pruned (it is not one of ours).

Keys touched: ``processes`` (SMEMBERS, SREM), ``<identity>`` (HEXISTS info),
``process_cleanup`` (SET NX EX).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from verk_compat.keys import Keys

__all__ = ["CLEANUP_LOCK_TTL", "cleanup", "dead_members", "live_count"]

#: Seconds between two cleanups across the whole cluster (Sidekiq's ``EX 60``).
CLEANUP_LOCK_TTL = 60


def dead_members(members: Sequence[str], has_info: Sequence[object]) -> list[str]:
    """The members whose heartbeat hash has no ``info`` (``has_info`` in the same order)."""
    return [m for m, alive in zip(members, has_info, strict=True) if not alive]


async def _members_and_liveness(redis: Redis, keys: Keys) -> tuple[list[str], list[Any]]:
    raw: Any = await redis.smembers(keys.processes)
    members: list[str] = []
    for member in raw:
        try:
            members.append(member.decode() if isinstance(member, bytes) else str(member))
        except UnicodeDecodeError:
            continue
    if not members:
        return [], []
    pipe: Any
    async with redis.pipeline(transaction=False) as pipe:
        for member in members:
            pipe.hexists(keys.process(member), "info")
        alive: list[Any] = await pipe.execute()
    return members, alive


async def cleanup(redis: Redis, keys: Keys) -> int:
    """SREM the dead members of ``processes``; 0 if another caller did it in the last minute."""
    if not await redis.set(keys.process_cleanup, "1", nx=True, ex=CLEANUP_LOCK_TTL):
        return 0
    members, alive = await _members_and_liveness(redis, keys)
    gone = dead_members(members, alive)
    return int(await redis.srem(keys.processes, *gone)) if gone else 0


async def live_count(redis: Redis, keys: Keys) -> int:
    """How many members of ``processes`` have a live heartbeat hash."""
    _, alive = await _members_and_liveness(redis, keys)
    return sum(1 for a in alive if a)
