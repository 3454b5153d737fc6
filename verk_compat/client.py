"""The synchronous Sidekiq client: :class:`Client` on ``redis.Redis``, plus connection helpers.

The payloads, batches and commands come from :class:`verk_compat.clientplan.Planner` (shared
with :class:`verk_compat.aclient.AsyncClient`); this module runs them on a redis-py pipeline
without MULTI, one round trip per push, as Sidekiq's ``atomic_push`` does (wire doc §3.1).

Redis keys written (``ns:`` prefixed under a namespace):

* ``queues`` (SET, SADD of the queue name) and ``queue:<q>`` (LIST, variadic LPUSH);
* ``schedule`` (ZSET, ZADD with the score as the decimal string of float epoch seconds; the
  member has neither ``at`` nor ``enqueued_at``);
* Resque target: ``resque:queues`` (SADD) and ``resque:queue:<q>`` (RPUSH of ``{"class","args"}``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import redis
from redis.asyncio import Redis as AsyncRedis

from .clientplan import At, Middleware, Planner, Target, Write, epoch, options_of
from .codec import Profile, now
from .errors import RedisUnavailable

__all__ = ["Client", "default_url", "pipeline", "unavailable", "where"]

DEFAULT_URL = "redis://localhost:6379/0"


def default_url() -> str:
    """``REDIS_URL`` from the environment, else a local Redis on 6379 (as Sidekiq does)."""
    return os.environ.get("REDIS_URL") or DEFAULT_URL


def where(client: redis.Redis | AsyncRedis) -> str:
    """``host:port`` (or socket path) of a client, for error messages; never the password."""
    kwargs = client.connection_pool.connection_kwargs
    if kwargs.get("path"):
        return str(kwargs["path"])
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


@contextmanager
def unavailable(place: str) -> Iterator[None]:
    """Turn redis-py's connection and timeout errors into :class:`RedisUnavailable`."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        kind = "timed out" if isinstance(exc, redis.TimeoutError) else "is unreachable"
        raise RedisUnavailable(f"Redis at {place} {kind}: {exc}") from exc


class Client:
    """Synchronous Sidekiq client on ``redis.Redis``: enqueue, enqueue_many, schedule.

    Args:
        redis_url: ``redis://`` or ``rediss://`` (TLS) URL, with ``user:password@`` for
            AUTH/ACL; defaults to ``$REDIS_URL``. Ignored when ``redis`` is given.
        redis: An existing client to use (not closed by :meth:`close`).
        namespace: redis-namespace style prefix of key names (``resque`` for Resque).
        profile: Wire profile of timestamps: ``sidekiq7`` (float seconds) or ``sidekiq8`` (ms).
        target: ``sidekiq`` (LPUSH ``queue:<q>``) or ``resque`` (RPUSH ``resque:queue:<q>``).
        batch_size: Jobs per LPUSH in :meth:`enqueue_many`.
        middleware: Callables that get each Job before it is pushed and return the Job to push.
    """

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        redis: redis.Redis | None = None,
        namespace: str | None = None,
        profile: Profile = "sidekiq7",
        target: Target = "sidekiq",
        batch_size: int = 1000,
        middleware: Sequence[Middleware] = (),
    ) -> None:
        self.planner = Planner.build(
            namespace=namespace,
            target=target,
            profile=profile,
            batch_size=batch_size,
            middleware=middleware,
        )
        self._owned = redis is None
        self.redis = redis if redis is not None else _from_url(redis_url or default_url())
        self._where = where(self.redis)

    def enqueue(
        self,
        class_name: str,
        args: Sequence[Any] = (),
        *,
        queue: str = "default",
        retry: bool | int = True,
        jid: str | None = None,
        **options: Any,
    ) -> str:
        """Push one job to ``queue:<queue>`` in one round trip; returns its jid."""
        jid, write = self.planner.enqueue_write(
            class_name, args, options_of(queue, retry, jid, options)
        )
        self._run([write])
        return jid

    def enqueue_many(
        self,
        class_name: str,
        many_args: Iterable[Sequence[Any]],
        *,
        queue: str = "default",
        retry: bool | int = True,
        **options: Any,
    ) -> list[str]:
        """Push one job per args list, in pipelined batches; all are validated first."""
        opts = options_of(queue, retry, None, options)
        batches = self.planner.batches(class_name, many_args, opts)
        for batch in batches:
            self._run([self.planner.push_batch(class_name, batch, opts)])
        return [jid for batch in batches for jid in batch.jids]

    def schedule(
        self,
        class_name: str,
        args: Sequence[Any] = (),
        *,
        at: At,
        queue: str = "default",
        retry: bool | int = True,
        jid: str | None = None,
        **options: Any,
    ) -> str:
        """Run the job at ``at`` (datetime or epoch seconds); a past time enqueues at once."""
        job = self.planner.job(class_name, args, options_of(queue, retry, jid, options))
        self._run([self.planner.at(job, epoch(at))])
        return str(job.jid)

    def enqueue_in(
        self, seconds: float, class_name: str, args: Sequence[Any] = (), **options: Any
    ) -> str:
        """Run the job ``seconds`` from now (Sidekiq's ``perform_in``)."""
        return self.schedule(class_name, args, at=now() + float(seconds), **options)

    def _run(self, writes: Sequence[Write]) -> None:
        with unavailable(self._where):
            pipeline(self.redis, [c for write in writes for c in write.commands()])

    def close(self) -> None:
        """Close the connection pool, unless the client was handed in."""
        if self._owned:
            self.redis.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def pipeline(client: redis.Redis, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Send ``commands`` in one write, then read every reply: one round trip, no MULTI.

    This is what ``client.pipeline(transaction=False).execute()`` does, without its per-call
    bookkeeping (a third of a single enqueue's time): the same connection pool, packing, retry
    policy (reconnect on connection errors) and error rule (first error reply raised after all
    replies are read, so the connection stays in step).
    """
    pool = client.connection_pool
    conn: Any = pool.get_connection()
    try:
        result: list[Any] = conn.retry.call_with_retry(
            lambda: _exchange(conn, commands), lambda _error: conn.disconnect()
        )
        return result
    finally:
        pool.release(conn)


def _exchange(conn: Any, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
    conn.send_packed_command(conn.pack_commands(commands))
    replies: list[Any] = []
    error: redis.ResponseError | None = None
    for _ in commands:
        try:
            replies.append(conn.read_response())
        except redis.ResponseError as exc:
            error = error or exc
            replies.append(exc)
    if error is not None:
        raise error
    return replies


def _from_url(url: str) -> redis.Redis:
    try:
        return redis.Redis.from_url(url)
    except ValueError as exc:
        raise ValueError(f"bad Redis URL: {exc}") from None
