"""The admin API in Sidekiq's nouns, on a sync ``redis.Redis`` (bytes replies).

:class:`Stats`, :class:`Queue`, :class:`ScheduledSet`, :class:`RetrySet`, :class:`DeadSet` and
:class:`ProcessSet` read and act on the same keys Ruby's ``Sidekiq::Stats``, ``Sidekiq::Queue``,
``Sidekiq::ScheduledSet``/``RetrySet``/``DeadSet`` and ``Sidekiq::ProcessSet`` use, under the
namespace of an optional :class:`~verk_compat.keys.Keys`. :class:`InProgress` lists the
in-progress jobs of each verk-compat identity (dead ones too) and requeues a dead one's. Jobs
are named by their exact bytes; moves between sets and queues are single Lua scripts.
:func:`connect` builds a client from a URL.

Keys touched: see each module (``stats``, ``queue``, ``sets``, ``processes``).
"""

from __future__ import annotations

import redis

from verk_compat.api.inprogress import InProgress, InProgressList, ProcessAlive
from verk_compat.api.processes import Process, ProcessSet
from verk_compat.api.queue import Queue
from verk_compat.api.records import JobRecord, SortedEntry
from verk_compat.api.sets import DeadSet, JobSet, RetrySet, ScheduledSet
from verk_compat.api.stats import Stats
from verk_compat.api.values import DayStat
from verk_compat.redis_url import sync_client

__all__ = [
    "DayStat",
    "DeadSet",
    "InProgress",
    "InProgressList",
    "JobRecord",
    "JobSet",
    "Process",
    "ProcessAlive",
    "ProcessSet",
    "Queue",
    "RetrySet",
    "ScheduledSet",
    "SortedEntry",
    "Stats",
    "connect",
]


def connect(url: str, *, timeout: float = 5.0) -> redis.Redis:
    """A sync client for ``url`` with connect/read timeouts, so a dead server fails fast.

    Raises:
        ValueError: a malformed URL.
    """
    return sync_client(url, socket_connect_timeout=timeout, socket_timeout=timeout)
