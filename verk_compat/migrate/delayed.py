"""resque-scheduler's delayed jobs (``Resque.enqueue_at``/``enqueue_in``) -> Sidekiq ``schedule``.

resque-scheduler keeps each job due at unix second ``ts`` in the LIST ``delayed:<ts>`` (RPUSH,
``{"class","args","queue"}``), every such ``ts`` in the ZSET ``delayed_queue_schedule``
(member = score = ``ts``) and, per encoded job, the SET ``timestamps:<job>`` of the
``delayed:<ts>`` names holding it. Each ``delayed:<ts>`` list is one migration unit (oldest
first, LPOP end) into ``schedule`` scored ``ts``, on the queue the payload names
(:func:`~verk_compat.migrate.convert.resque_delayed_to_sidekiq`). Once a list is empty, its
index entries are removed by ``lua/delayed_tidy.lua`` (only if the list is still gone, so a job
a producer adds meanwhile stays indexed).

Keys touched: ``<rns>:delayed:<ts>`` (SCAN, moved), ``<rns>:delayed_queue_schedule`` (ZSCAN,
ZREM), ``<rns>:timestamps:*`` (SCAN, SMEMBERS, SREM), ``[ns:]schedule``.
"""

from __future__ import annotations

import re
from functools import partial

from redis import Redis

from verk_compat.codec.job import Profile
from verk_compat.keys import Keys, ResqueKeys
from verk_compat.lua import script
from verk_compat.migrate.convert import resque_delayed_to_sidekiq
from verk_compat.migrate.engine import Unit
from verk_compat.migrate.replies import key_text

__all__ = ["delayed_timestamps", "delayed_units", "index_keys", "tidy"]

_TS = re.compile(r"-?\d+")


def delayed_timestamps(src: Redis, rk: ResqueKeys) -> list[str]:
    """The ``<ts>`` of every ``delayed:<ts>`` LIST, in time order (found by SCAN, so a list
    missing from ``delayed_queue_schedule`` is still found)."""
    prefix = rk.delayed("")
    found = (
        key_text(k)[len(prefix) :] for k in src.scan_iter(match=rk.delayed_pattern(), _type="list")
    )
    return sorted((ts for ts in found if _TS.fullmatch(ts)), key=int)


def delayed_units(
    src: Redis, rk: ResqueKeys, sk: Keys, *, profile: Profile = "sidekiq7"
) -> list[Unit]:
    """One unit per ``delayed:<ts>`` list: LPOP end (oldest) -> ``schedule`` scored ``ts``."""
    units = []
    for ts in delayed_timestamps(src, rk):
        conv = partial(resque_delayed_to_sidekiq, at=int(ts), profile=profile)
        units.append(Unit(rk.delayed(ts), "LEFT", sk.schedule, "ZSET", conv))
    return units


def index_keys(src: Redis, rk: ResqueKeys) -> list[str]:
    """The index keys (``delayed_queue_schedule`` and every ``timestamps:*`` SET)."""
    found = [key_text(k) for k in src.scan_iter(match=rk.timestamps_pattern())]
    return [rk.delayed_schedule, *sorted(found)]


def tidy(src: Redis, rk: ResqueKeys) -> int:
    """Drop index entries naming a ``delayed:<ts>`` list that no longer exists; returns how
    many were removed."""
    removed = 0
    tidy_script = script("delayed_tidy")
    for member, _ in src.zscan_iter(rk.delayed_schedule):
        ts = key_text(member)
        removed += int(tidy_script(src, [rk.delayed_schedule, rk.delayed(ts)], [ts, "zset"]))
    for key in src.scan_iter(match=rk.timestamps_pattern(), _type="set"):
        for member in src.smembers(key):  # SMEMBERS: the migration ACL has no SSCAN
            name = key_text(member)  # "delayed:<ts>", never prefixed
            removed += int(tidy_script(src, [key, rk.key(name)], [member, "set"]))
    return removed
