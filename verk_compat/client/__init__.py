"""The enqueue client: :class:`Client` (sync) and :class:`AsyncClient` (asyncio).

Both share a sans-IO ``planner`` (what to write: payload bytes and keys), a payload
``template`` for bulk pushes, and ``resp`` (RESP packing and Redis error wording). Keys touched:
``queue:<q>``, ``queues``, ``schedule`` (and ``resque:queue:<q>``/``resque:queues`` for the
Resque target), under an optional namespace.
"""

from __future__ import annotations

from verk_compat.client.async_client import AsyncClient
from verk_compat.client.client import Client
from verk_compat.client.planner import ClientMiddleware
from verk_compat.client.sharded import AsyncShardedClient, ShardedClient

__all__ = [
    "AsyncClient",
    "AsyncShardedClient",
    "Client",
    "ClientMiddleware",
    "ShardedClient",
]
