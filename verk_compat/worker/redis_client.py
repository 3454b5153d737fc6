"""The worker's Redis clients: options that never hang, and the keep-alive thread's client.

A worker built from a URL gets an asyncio client that cannot hang on a half-open connection
(:func:`client_options`): a socket timeout a few seconds longer than the ``BLMOVE`` block
timeout, TCP keepalive and a health check (PING) on a connection idle for a while. Options in
the URL's query string win; a client handed in is used as it is (:func:`check_socket_timeout` warns
when its timeout would cut every blocking fetch short). :func:`keepalive_client` makes the
small sync client of :mod:`verk_compat.worker.keepalive`.

Keys touched: none.
"""

from __future__ import annotations

import logging
from typing import Any

import redis as _sync_redis
import redis.asyncio.connection as _aconn
import redis.connection as _sconn
from redis.asyncio import Redis

__all__ = ["SOCKET_TIMEOUT_MARGIN", "check_socket_timeout", "client_options", "keepalive_client"]

log = logging.getLogger("verk_compat.worker.launcher")

#: Seconds the socket timeout exceeds the blocking fetch's timeout (a BLMOVE answers after
#: ``block_timeout``; a reply later than this margin means the connection is dead).
SOCKET_TIMEOUT_MARGIN = 5.0


def client_options(block_timeout: float) -> dict[str, Any]:
    """The worker's Redis client options for a ``block_timeout`` second ``BLMOVE``.

    No automatic retries: a command whose reply is lost must surface as an error, so that the
    manager reconciles its in-progress list (a silently retried fetch would strand jobs until
    the next periodic reconcile).
    """
    return {
        "socket_timeout": block_timeout + SOCKET_TIMEOUT_MARGIN,
        "socket_connect_timeout": SOCKET_TIMEOUT_MARGIN,
        "socket_keepalive": True,
        "health_check_interval": 30,
        "retry_on_timeout": False,
    }


def check_socket_timeout(redis: Redis, block_timeout: float) -> None:
    """Warn if the client would time out every blocking fetch."""
    timeout = redis.connection_pool.connection_kwargs.get("socket_timeout")
    if isinstance(timeout, int | float) and timeout <= block_timeout:
        log.warning(
            "the Redis client's socket_timeout (%ss) is not above the blocking fetch's %ss: "
            "every BLMOVE on an empty queue will time out; use socket_timeout=%s",
            timeout,
            block_timeout,
            block_timeout + SOCKET_TIMEOUT_MARGIN,
        )


#: The sync connection class matching each async one (for the keep-alive thread's client).
_SYNC_CONNECTION: dict[type[Any], type[Any]] = {
    _aconn.Connection: _sconn.Connection,
    _aconn.SSLConnection: _sconn.SSLConnection,
    _aconn.UnixDomainSocketConnection: _sconn.UnixDomainSocketConnection,
}
#: Connection options the keep-alive thread's client copies from the worker's client.
_SYNC_OPTIONS = ("host", "port", "db", "username", "password", "path", "credential_provider")


def keepalive_client(redis: Redis) -> _sync_redis.Redis | None:
    """A small sync client to the same server as ``redis`` (None if its connection kind is not
    a plain TCP, TLS or Unix socket one, e.g. Sentinel)."""
    pool = redis.connection_pool
    cls = _SYNC_CONNECTION.get(pool.connection_class)
    if cls is None:
        return None
    options = {
        k: v
        for k, v in pool.connection_kwargs.items()
        if k in _SYNC_OPTIONS or (k.startswith("ssl_") and cls is _sconn.SSLConnection)
    }
    timeout = SOCKET_TIMEOUT_MARGIN
    sync_pool = _sync_redis.ConnectionPool(
        connection_class=cls,
        max_connections=1,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        **options,
    )
    return _sync_redis.Redis(connection_pool=sync_pool)
