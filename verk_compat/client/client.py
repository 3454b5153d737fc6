"""The synchronous Sidekiq client: :class:`Client` on ``redis.Redis``, plus connection helpers.

The payloads, batches and commands come from :class:`verk_compat.client.planner.Planner`, their RESP
bytes and the error wording from :mod:`verk_compat.client.resp` (both shared with
:class:`verk_compat.client.async_client.AsyncClient`, which follows the same rules on
``redis.asyncio``);
this module sends them without MULTI, one round trip per push, as Sidekiq's ``atomic_push``
does (docs/wire.md §4.1).

Fast path: each Client holds one redis-py connection of its own (made from the pool's
connection class and kwargs, so AUTH/ACL, TLS, db and client name go through redis-py's own
``connect()``), guarded by a lock. A single enqueue packs ``SADD queues <q>`` + ``LPUSH
queue:<q> <payload>`` from cached per-queue RESP bytes plus the payload, writes them once and
reads both replies. A thread that finds the lock taken uses the pool instead (same commands).

Retry rule (both paths): a connection error is retried, on a fresh connection, only while
nothing can have been written: connecting, or an idle connection found closed or holding
unread data before the write. Once the write has begun, a connection error or timeout is never
retried (the server may have run the push, and a retry could push the job twice): the
connection is dropped and :class:`~verk_compat.errors.RedisUnavailable` is raised, saying the
push may or may not have happened. Error replies (WRONGTYPE, NOPERM, ...) are read in step and
raised as ``redis.ResponseError`` naming the server and the command; the client stays usable.

Redis keys written (``ns:`` prefixed under a namespace):

* ``queues`` (SET, SADD of the queue name) and ``queue:<q>`` (LIST, variadic LPUSH);
* ``schedule`` (ZSET, ZADD with the score as the decimal string of float epoch seconds; the
  member has neither ``at`` nor ``enqueued_at``);
* Resque target: ``resque:queues`` (SADD) and ``resque:queue:<q>`` (RPUSH of ``{"class","args"}``).
* Verk target: ``queue:<q>`` (LPUSH, no ``queues`` set) and ``schedule`` in Verk's format.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Unpack

import redis

from verk_compat.client.options import JobOptions, options_of
from verk_compat.client.planner import (
    At,
    ClientMiddleware,
    Planner,
    Target,
    Write,
    epoch,
    wait_write,
)
from verk_compat.client.resp import (
    Packer,
    after_write,
    check_replicated,
    check_replies,
    commands,
    pool_args,
    reply_count,
)
from verk_compat.client.resp import unavailable_error as _unavailable
from verk_compat.codec.job import Profile, now
from verk_compat.redis_url import sync_client, where

__all__ = ["Client", "pipeline", "unavailable"]

_NETWORK = (redis.ConnectionError, redis.TimeoutError, OSError)


@contextmanager
def unavailable(place: str) -> Iterator[None]:
    """Turn redis-py's connection and timeout errors into :class:`RedisUnavailable`."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise _unavailable(place, exc) from exc


class Client:
    """Synchronous Sidekiq client on ``redis.Redis``: enqueue, enqueue_many, schedule.

    Args:
        redis_url: ``redis://`` or ``rediss://`` (TLS) URL, with ``user:password@`` for
            AUTH/ACL; defaults to ``$REDIS_URL``. Ignored when ``redis`` is given.
        redis: An existing client to use (not closed by :meth:`close`).
        namespace: redis-namespace style prefix of key names (``resque`` for Resque).
        profile: Wire profile of timestamps: ``sidekiq7`` (float seconds) or ``sidekiq8`` (ms).
        target: ``sidekiq`` (LPUSH ``queue:<q>``), ``resque`` (RPUSH ``resque:queue:<q>``) or
            ``verk`` (``Verk.enqueue``'s payload, LPUSH ``queue:<q>``; ``retry`` becomes
            ``max_retry_count``; Sidekiq-only options are refused).
        batch_size: Jobs per LPUSH in :meth:`enqueue_many`.
        middleware: Callables that get each Job before it is pushed and return the Job to push.

    The push methods take Sidekiq's job options as keywords (``queue``, ``retry``, ``jid`` and
    :class:`~verk_compat.client.options.JobOptions`); any other keyword is a ``TypeError``, and
    other payload keys go in ``extra={...}``.
        wait_replicas: With replicas (e.g. under Sentinel), send Redis ``WAIT`` after each push
            on the same connection and raise :class:`~verk_compat.errors.NotReplicated` (the
            jobs are queued) unless this many replicas confirm it; 0 (default) does not wait.
        wait_timeout: Seconds ``WAIT`` may block (default 0.5).

    The client holds one connection of its own besides the pool (see the module docs); it is
    made on first use, outside the pool's ``max_connections``, and closed by :meth:`close`.
    Safe to share between threads.
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
        middleware: Sequence[ClientMiddleware] = (),
        wait_replicas: int = 0,
        wait_timeout: float = 0.5,
    ) -> None:
        self.planner = Planner.build(
            namespace=namespace,
            target=target,
            profile=profile,
            batch_size=batch_size,
            middleware=middleware,
        )
        self._owned = redis is None
        self.redis = redis if redis is not None else sync_client(redis_url)
        self._where = where(self.redis)
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._line: Any = None  # the held redis-py connection, made on first use
        self._packer = Packer()
        self._wait = wait_write(wait_replicas, wait_timeout) if wait_replicas else None

    def enqueue(
        self,
        class_name: str,
        args: Sequence[Any] = (),
        *,
        queue: str = "default",
        retry: bool | int = True,
        jid: str | None = None,
        extra: Mapping[str, Any] | None = None,
        **options: Unpack[JobOptions],
    ) -> str:
        """Push one job to ``queue:<queue>`` in one round trip; returns its jid."""
        jid, write = self.planner.enqueue_write(
            class_name, args, options_of(queue, retry, jid, options, extra, "enqueue")
        )
        self._run([write], [jid])
        return jid

    def enqueue_many(
        self,
        class_name: str,
        many_args: Iterable[Sequence[Any]],
        *,
        queue: str = "default",
        retry: bool | int = True,
        extra: Mapping[str, Any] | None = None,
        **options: Unpack[JobOptions],
    ) -> list[str]:
        """Push one job per args list, in pipelined batches; all are validated first."""
        opts = options_of(queue, retry, None, options, extra, "enqueue_many")
        batches = self.planner.batches(class_name, many_args, opts)
        pushed: list[str] = []
        for batch in batches:
            pushed += batch.jids
            self._run([self.planner.push_batch(class_name, batch, opts)], pushed)
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
        extra: Mapping[str, Any] | None = None,
        **options: Unpack[JobOptions],
    ) -> str:
        """Run the job at ``at`` (datetime or epoch seconds); a past time enqueues at once."""
        opts = options_of(queue, retry, jid, options, extra, "schedule")
        job = self.planner.job(class_name, args, opts)
        self._run([self.planner.at(job, epoch(at))], [str(job.jid)])
        return str(job.jid)

    def enqueue_in(
        self,
        seconds: float,
        class_name: str,
        args: Sequence[Any] = (),
        *,
        queue: str = "default",
        retry: bool | int = True,
        jid: str | None = None,
        extra: Mapping[str, Any] | None = None,
        **options: Unpack[JobOptions],
    ) -> str:
        """Run the job ``seconds`` from now (Sidekiq's ``perform_in``)."""
        at = now() + epoch(seconds)
        return self.schedule(
            class_name, args, at=at, queue=queue, retry=retry, jid=jid, extra=extra, **options
        )

    def _run(self, writes: Sequence[Write], jids: Sequence[str] = ()) -> None:
        if self._wait is not None:
            writes = [*writes, self._wait]
        if self._pid != os.getpid():
            self._forked()
        try:
            if self._lock.acquire(blocking=False):
                try:
                    replies = self._on_line(writes)
                finally:
                    self._lock.release()
            else:  # another thread holds the line: use the pool
                replies = pipeline(self.redis, commands(writes), False)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise _unavailable(self._where, exc) from exc
        check_replies(self._where, writes, replies)
        if self._wait is not None:
            check_replicated(self._where, self._wait, replies[-1], jids)

    def _on_line(self, writes: Sequence[Write]) -> list[Any]:
        """One exchange on the held connection (the caller holds the lock)."""
        line = self._line
        if line is None:
            pool = self.redis.connection_pool
            line = self._line = pool.connection_class(**pool.connection_kwargs)
        _ready(line)
        count = 2 if len(writes) == 1 and writes[0].queues_key is not None else None
        return _exchange(line, self._pack(line, writes), count or reply_count(writes))

    def _pack(self, line: Any, writes: Sequence[Write]) -> list[bytes]:
        """RESP bytes of the writes: cached head + payload for a single push, else redis-py's."""
        return self._packer.pack(line, writes)

    def _forked(self) -> None:
        """In a forked child: forget the parent's connection and lock (never use them)."""
        self._lock = threading.Lock()
        self._line = None
        self._pid = os.getpid()

    def close(self) -> None:
        """Close the held connection, and the pool unless the client was handed in."""
        with self._lock:
            line, self._line = self._line, None
            if line is not None and self._pid == os.getpid():
                line.disconnect()
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


def pipeline(
    client: redis.Redis, commands: Sequence[tuple[Any, ...]], raise_on_error: bool = True
) -> list[Any]:
    """Send ``commands`` in one write, then read every reply: one round trip, no MULTI.

    This is what ``client.pipeline(transaction=False).execute()`` does, without its per-call
    bookkeeping: the pool's connection (which the pool checks before handing it out), one
    packed write, every reply read so the connection stays in step. Error replies come back
    as exceptions in the list; the first is raised when ``raise_on_error``. Connection errors
    after the write began are not retried (see the module docs).
    """
    pool = client.connection_pool
    conn: Any = pool.get_connection(*pool_args(pool))
    try:
        replies = _exchange(conn, conn.pack_commands(commands), len(commands))
    finally:
        pool.release(conn)
    for reply in replies:
        if raise_on_error and isinstance(reply, redis.ResponseError):
            raise reply
    return replies


def _ready(conn: Any) -> None:
    """Connect ``conn``, or check an idle one; nothing is written, so this may reconnect once.

    An idle connection that reads as ready (closed by the server, or holding bytes nobody asked
    for) cannot be trusted: it is dropped and a fresh one made (redis-py's ``connect()`` applies
    its own retry policy to connecting).

    Only redis-py's public API, the same from 5.0 to 8 (``is_connected`` came in 6.x):
    ``connect()`` returns at once on a connected connection, so it goes first and ``can_read()``
    then checks the connection, new or idle.
    """
    conn.connect()
    try:
        if not conn.can_read():
            return
    except _NETWORK:
        pass
    conn.disconnect()
    conn.connect()


def _exchange(conn: Any, packed: Sequence[bytes], count: int) -> list[Any]:
    """Write ``packed`` once and read ``count`` replies (error replies returned, not raised).

    Never retried: any connection error or timeout from here on drops the connection and is
    raised with a note that the commands may have run. A NOAUTH reply raises as redis-py's
    ``AuthenticationError`` (nothing ran: the server refused every command).
    """
    try:
        conn.send_packed_command(packed, check_health=False)
        replies: list[Any] = []
        for _ in range(count):
            try:
                replies.append(conn.read_response())
            except redis.ResponseError as exc:
                replies.append(exc)
        return replies
    except redis.AuthenticationError:
        conn.disconnect()
        raise
    except _NETWORK as exc:
        conn.disconnect()
        raise after_write(exc) from exc
    except BaseException:
        conn.disconnect()  # e.g. KeyboardInterrupt between write and read: out of step
        raise
