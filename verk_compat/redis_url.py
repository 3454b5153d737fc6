"""The one place that turns a Redis URL (or ``$REDIS_URL``) into a redis-py client.

Every entry point (the clients, the worker, the admin API, the CLI, the migrations, the demo)
resolves its URL here, so they agree on the default: ``$REDIS_URL``, else a local Redis on
6379, database 0 (Sidekiq's default). URLs may be ``redis://``, ``rediss://`` (TLS) and
``unix://``, and carry ``user:password@`` for AUTH/ACL.

Redis Sentinel: ``redis+sentinel://[user:password@]host:port[,host:port...]/service[/db]``
(``rediss+sentinel://`` for TLS; ``?sentinel_password=...`` when the sentinels need their own
password). The client asks the sentinels for the current primary on every new connection, so
after a failover a reconnect reaches the new primary. Touches no key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel

__all__ = [
    "DEFAULT_URL",
    "SentinelURL",
    "async_client",
    "parse_sentinel",
    "resolve",
    "sync_client",
    "where",
]

DEFAULT_URL = "redis://localhost:6379/0"
# Options that only a TCP connection takes; redis-py's unix socket connection refuses them.
_TCP_ONLY = ("socket_keepalive", "socket_keepalive_options")


def resolve(url: str | None = None) -> str:
    """``url``, else ``$REDIS_URL``, else :data:`DEFAULT_URL`."""
    return url or os.environ.get("REDIS_URL") or DEFAULT_URL


_SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")


@dataclass(frozen=True)
class SentinelURL:
    """A parsed ``redis+sentinel://`` URL."""

    sentinels: list[tuple[str, int]]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None
    ssl: bool = False
    extra: dict[str, str] = field(default_factory=dict)


def parse_sentinel(url: str) -> SentinelURL | None:
    """The parts of a Sentinel URL, or ``None`` when ``url`` is not one.

    Raises:
        ValueError: a Sentinel URL without hosts or service, or with a bad port or db.
    """
    parts = urlsplit(url)
    if parts.scheme not in _SENTINEL_SCHEMES:
        return None
    hosts = parts.netloc.rpartition("@")[2]
    sentinels = [_host_port(item) for item in hosts.split(",") if item]
    path = [p for p in parts.path.split("/") if p]
    if not sentinels or not path or len(path) > 2:
        raise ValueError(f"{parts.scheme}://host:port[,host:port]/service[/db] expected")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return SentinelURL(
        sentinels=sentinels,
        service=unquote(path[0]),
        db=int(path[1]) if len(path) == 2 else 0,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        sentinel_password=query.pop("sentinel_password", None),
        ssl=parts.scheme.startswith("rediss"),
        extra=query,
    )


def _host_port(item: str) -> tuple[str, int]:
    host, _, port = item.rpartition(":")
    if not host:
        return item, 26379
    return host.strip("[]"), int(port)


def _sentinel_kwargs(parsed: SentinelURL, options: dict[str, Any]) -> dict[str, Any]:
    """Connection options of the sentinels: the timeouts of the primary's, their own password."""
    timeouts = ("socket_timeout", "socket_connect_timeout")
    kwargs = {k: v for k, v in options.items() if k in timeouts}
    if parsed.sentinel_password:
        kwargs["password"] = parsed.sentinel_password
    if parsed.ssl:
        kwargs["ssl"] = True
    return kwargs


def _primary_kwargs(parsed: SentinelURL, options: dict[str, Any]) -> dict[str, Any]:
    kwargs = dict(options, db=parsed.db, username=parsed.username, password=parsed.password)
    if parsed.ssl:
        kwargs["ssl"] = True
    return kwargs


def _primary(sentinel_class: Any, parsed: SentinelURL, options: dict[str, Any]) -> Any:
    """The primary's client from redis-py's (sync or asyncio, untyped) ``Sentinel``."""
    sentinels = sentinel_class(parsed.sentinels, sentinel_kwargs=_sentinel_kwargs(parsed, options))
    return sentinels.master_for(parsed.service, **_primary_kwargs(parsed, options))


def _check_db(url: str) -> None:
    """Refuse a database path that is not a number: redis-py would silently use database 0.

    Raises:
        ValueError: ``redis://host/abc`` and the like.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return
    db = unquote(parts.path).strip("/")
    if db and not db.isdigit():
        raise ValueError(f"the database index must be a number (/0, /1, ...), not {db!r}")


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
        sentinel = parse_sentinel(resolved)
        if sentinel is not None:
            primary: redis.Redis = _primary(redis.sentinel.Sentinel, sentinel, options)
            return primary
        _check_db(resolved)
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
        sentinel = parse_sentinel(resolved)
        if sentinel is not None:
            aprimary: redis.asyncio.Redis = _primary(
                redis.asyncio.sentinel.Sentinel, sentinel, options
            )
            return aprimary
        _check_db(resolved)
        return redis.asyncio.Redis.from_url(resolved, **_options(resolved, options))
    except ValueError as exc:
        raise ValueError(f"bad Redis URL: {exc}") from None


def where(client: redis.Redis | redis.asyncio.Redis) -> str:
    """``host:port`` (or socket path) of a client, for error messages; never the password."""
    pool = client.connection_pool
    service = getattr(pool, "service_name", None)
    if service is not None:
        return f"sentinel service {service}"
    kwargs = pool.connection_kwargs
    if kwargs.get("path"):
        return str(kwargs["path"])
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
