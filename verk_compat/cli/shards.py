"""``--shard QUEUE=URL``: which Redis server each queue of a worker lives on.

A worker given shards runs a :class:`~verk_compat.worker.sharded.ShardedWorker`: the queues
named in ``--shard`` are served on their own server, every other queue on ``--redis-url``.
Pure parsing and planning; keys touched: none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import click

from verk_compat.redis_url import resolve

__all__ = ["parse_shards", "plan_shards"]


def parse_shards(specs: Iterable[str]) -> dict[str, str]:
    """``QUEUE=URL`` options as ``{queue: url}``; a queue named twice is refused."""
    shards: dict[str, str] = {}
    for spec in specs:
        queue, sep, url = spec.partition("=")
        if not sep or not queue or not url:
            raise click.BadParameter(f"--shard takes QUEUE=REDIS_URL, not {spec!r}")
        if queue in shards and shards[queue] != url:
            raise click.BadParameter(f"--shard names queue {queue!r} twice")
        shards[queue] = url
    return shards


def plan_shards(
    queues: Mapping[str, int], shards: Mapping[str, str], default_url: str | None
) -> dict[str, dict[str, int]]:
    """``{url: {queue: concurrency}}`` for :class:`ShardedWorker`, in the order queues came."""
    unknown = sorted(set(shards) - set(queues))
    if unknown:
        names = ", ".join(unknown)
        raise click.BadParameter(
            f"--shard names queue(s) this worker does not serve: {names} (add -q NAME)"
        )
    plan: dict[str, dict[str, int]] = {}
    for queue, concurrency in queues.items():
        url = resolve(shards[queue]) if queue in shards else resolve(default_url)
        plan.setdefault(url, {})[queue] = concurrency
    return plan
