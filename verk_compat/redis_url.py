"""The one place that turns a Redis URL (or ``$REDIS_URL``) into a redis-py client.

Every entry point (the clients, the worker, the admin API, the CLI, the migrations, the demo)
resolves its URL here, so they agree on the default: ``$REDIS_URL``, else a local Redis on
6379, database 0 (Sidekiq's default). URLs may be ``redis://``, ``rediss://`` (TLS) and
``unix://``, and carry ``user:password@`` for AUTH/ACL. Touches no key.
"""

from __future__ import annotations

import os
from typing import Any

import redis
import redis.asyncio

__all__ = ["DEFAULT_URL", "async_client", "resolve", "sync_client", "where"]

DEFAULT_URL = "redis://localhost:6379/0"
# Options that only a TCP connection takes; redis-py's unix socket connection refuses them.
_TCP_ONLY = ("socket_keepalive", "socket_keepalive_options")


def resolve(url: str | None = None) -> str:
    """``url``, else ``$REDIS_URL``, else :data:`DEFAULT_URL`."""
    return url or os.environ.get("REDIS_URL") or DEFAULT_URL


def _options(url: str, options: dict[str, Any]) -> dict[str, Any]:
    if url.startswith("unix:"):
        return {k: v for k, v in options.items() if k not in _TCP_ONLY}
    return options


def sync_client(url: str | None = None, **options: Any) -> redis.Redis:
    """A ``redis.Redis`` for :func:`resolve` (``url``) with redis-py ``options``.

    Raises:
        ValueError: a malformed URL, named as such.
    """
    resolved = resolve(url)
    try:
        return redis.Redis.from_url(resolved, **_options(resolved, options))
    except ValueError as exc:
        raise ValueError(f"bad Redis URL: {exc}") from None


def async_client(url: str | None = None, **options: Any) -> redis.asyncio.Redis:
    """A ``redis.asyncio.Redis`` for :func:`resolve` (``url``) with redis-py ``options``.

    Raises:
        ValueError: a malformed URL, named as such.
    """
    resolved = resolve(url)
    try:
        return redis.asyncio.Redis.from_url(resolved, **_options(resolved, options))
    except ValueError as exc:
        raise ValueError(f"bad Redis URL: {exc}") from None


def where(client: redis.Redis | redis.asyncio.Redis) -> str:
    """``host:port`` (or socket path) of a client, for error messages; never the password."""
    kwargs = client.connection_pool.connection_kwargs
    if kwargs.get("path"):
        return str(kwargs["path"])
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
