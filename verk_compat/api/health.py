"""Health of worker processes for a container orchestrator: Redis reachable, heartbeat fresh.

:func:`judge` is the pure decision; :func:`check` reads Redis. A process is healthy while its
``<identity>`` hash is alive and its ``beat`` (refreshed every 5 s by the worker's event loop)
is at most ``max_age`` seconds old: a worker whose loop is blocked, or that lost Redis, turns
unhealthy after ``max_age``. Without an identity, every live process of this host (the
``hostname`` in its ``info``, as the worker wrote it) must be fresh, and there must be one.

Keys touched: ``processes`` (SSCAN, SISMEMBER), ``<identity>`` (HMGET); PING.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from verk_compat.api.processes import Process, ProcessSet
from verk_compat.codec.job import now
from verk_compat.keys import Keys

__all__ = ["MAX_AGE", "Health", "check", "hostname", "judge"]

#: Default oldest acceptable heartbeat, in seconds (six missed beats).
MAX_AGE = 30.0


@dataclass(frozen=True, slots=True)
class Health:
    """A verdict and the one line that explains it."""

    ok: bool
    line: str


def hostname() -> str:
    """This host's name as the worker writes it in its identity (``$DYNO`` first)."""
    return os.environ.get("DYNO") or socket.gethostname()


def judge(
    processes: Sequence[Process],
    *,
    stamp: float,
    max_age: float = MAX_AGE,
    identity: str | None = None,
    host: str | None = None,
) -> Health:
    """The verdict on ``processes`` (those found for ``identity``, or on ``host``)."""
    what = f"process {identity}" if identity else f"host {host}"
    if not processes:
        return Health(False, f"FAIL no live worker process for {what}")
    ages = sorted((max(0.0, stamp - p.beat), p.identity) for p in processes)
    oldest, who = ages[-1]
    if oldest > max_age:
        return Health(False, f"FAIL {who} last beat {oldest:.1f}s ago (max {max_age:g}s)")
    count = len(processes)
    noun = "process" if count == 1 else "processes"
    return Health(True, f"OK {count} {noun} for {what}, oldest beat {oldest:.1f}s ago")


def check(
    client: redis.Redis,
    keys: Keys,
    *,
    identity: str | None = None,
    host: str | None = None,
    max_age: float = MAX_AGE,
) -> Health:
    """PING, then judge ``identity`` (or every process of ``host``, this host by default)."""
    try:
        client.ping()
        found = ProcessSet(client, keys)
        if identity:
            process = found.get(identity)
            processes = [] if process is None else [process]
        else:
            host = host or hostname()
            processes = [p for p in found if p.info.get("hostname") == host]
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        return Health(False, f"FAIL Redis unreachable: {exc}")
    return judge(processes, stamp=now(), max_age=max_age, identity=identity, host=host)
