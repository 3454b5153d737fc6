"""The asyncio Sidekiq client: :class:`AsyncClient`, on ``redis.asyncio``.

Payloads, batches, scores and keys come from :class:`verk_compat.client.planner.Planner`, RESP bytes
and error wording from :mod:`verk_compat.client.resp`: both shared with the sync
:class:`verk_compat.client.client.Client`, whose rules this module follows on asyncio. Each push is
one write without MULTI, as Sidekiq's ``atomic_push`` does (docs/wire.md §4.1).

Fast path: each AsyncClient holds one connection of its own (made from the pool's connection
class and kwargs, so AUTH/ACL, TLS, db and client name go through redis-py's ``connect()``). A
single enqueue packs ``SADD queues <q>`` + ``LPUSH queue:<q> <payload>`` from cached per-queue
RESP bytes plus the payload, writes them once and reads both replies. A task that finds the
held connection busy (another task is mid-exchange on it) takes a pool connection instead,
with the same commands; tasks never wait for each other.

Retry rule: redis.asyncio retries a pipeline's ``execute`` on a connection error or timeout,
re-sending every command, per the connection's ``Retry``: none for a client made by
``Redis.from_url`` (``Retry(NoBackoff(), 0)``), but 10 retries with backoff for one made by
``Redis(host=..., ...)`` (redis-py 8). A reply lost after the push ran would then push the job
twice. This client never calls ``execute``: it writes and reads itself, so nothing is re-sent.
A connection error is retried, on a fresh connection, only while nothing can have been
written: connecting (redis-py's ``connect()`` applies the connection's ``Retry``), or an idle
connection found closed or holding unread bytes before the write (also bytes still in the
socket that the event loop has not read yet, e.g. the server's FIN after a ``CLIENT KILL``).
Once the write has begun, a connection error or timeout drops the connection and raises
:class:`~verk_compat.errors.RedisUnavailable` naming ``host:port`` (never the password) and
saying the commands may or may not have run. Error replies (WRONGTYPE, NOPERM, ...) are read in
step and raised as ``redis.ResponseError`` naming the server and the command; the client stays
usable. A task cancelled between write and read drops its connection (it is out of step) and
the push may or may not have run.

Redis keys written: ``queues`` (SADD) + ``queue:<q>`` (LPUSH), ``schedule`` (ZADD), or for
the Resque target ``resque:queues`` (SADD) + ``resque:queue:<q>`` (RPUSH), the Verk target
``queue:<q>`` (LPUSH) and ``schedule`` in Verk's format; see
:mod:`verk_compat.client.client`.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Unpack

import redis
from redis.asyncio import Redis as AsyncRedis

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
    pool_args,
    reply_count,
    unavailable_error,
)
from verk_compat.codec.job import Profile, now
from verk_compat.redis_url import async_client, where

__all__ = ["AsyncClient"]

_NETWORK = (redis.ConnectionError, redis.TimeoutError, OSError)


class AsyncClient:
    """Asyncio Sidekiq client on ``redis.asyncio.Redis``; same API as :class:`Client`.

    Args:
        redis_url: ``redis://`` or ``rediss://`` (TLS) URL, with ``user:password@`` for
            AUTH/ACL; defaults to ``$REDIS_URL``. Ignored when ``redis`` is given.
        redis: An existing asyncio client to use (not closed by :meth:`aclose`).
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
    made on first use, outside the pool's ``max_connections``, and closed by :meth:`aclose`.
    Safe to share between the tasks of one event loop (not between threads). Used from a new
    event loop, it abandons the old loop's held connection (its socket is closed when garbage
    collected, and Python may warn about the unclosed transport) and makes a new one.
    """

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        redis: AsyncRedis | None = None,
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
        self.redis = redis if redis is not None else async_client(redis_url)
        self._where = where(self.redis)
        # Tasks never wait for the held connection (a task finding it busy uses the pool), so a
        # flag is the whole lock: one event loop runs one task at a time, and the flag is set
        # and cleared with no await in between the check and the set.
        self._busy = False
        self._line: Any = None  # the held redis.asyncio connection, made on first use
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop the line belongs to
        self._packer = Packer()
        self._wait = wait_write(wait_replicas, wait_timeout) if wait_replicas else None

    async def enqueue(
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
        await self._run([write], [jid])
        return jid

    async def enqueue_many(
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
            await self._run([self.planner.push_batch(class_name, batch, opts)], pushed)
        return [jid for batch in batches for jid in batch.jids]

    async def schedule(
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
        await self._run([self.planner.at(job, epoch(at))], [str(job.jid)])
        return str(job.jid)

    async def enqueue_in(
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
        return await self.schedule(
            class_name, args, at=at, queue=queue, retry=retry, jid=jid, extra=extra, **options
        )

    async def _run(self, writes: Sequence[Write], jids: Sequence[str] = ()) -> None:
        if self._wait is not None:
            writes = [*writes, self._wait]
        try:
            if not self._busy:
                self._busy = True
                try:
                    replies = await self._on_line(writes)
                finally:
                    self._busy = False
            else:  # another task is on the line: use the pool
                replies = await self._on_pool(writes)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise unavailable_error(self._where, exc) from exc
        check_replies(self._where, writes, replies)
        if self._wait is not None:
            check_replicated(self._where, self._wait, replies[-1], jids)

    async def _on_line(self, writes: Sequence[Write]) -> list[Any]:
        """One exchange on the held connection (the caller set ``_busy``)."""
        line = self._line
        loop = asyncio.get_running_loop()
        if line is None or self._loop is not loop:
            if line is not None:
                _abandon(line)
            pool = self.redis.connection_pool
            line = self._line = pool.connection_class(**pool.connection_kwargs)
            self._loop = loop
        await _ready(line)
        count = 2 if len(writes) == 1 and writes[0].queues_key is not None else None
        return await _exchange(line, self._packer.pack(line, writes), count or reply_count(writes))

    async def _on_pool(self, writes: Sequence[Write]) -> list[Any]:
        """One exchange on a pool connection, checked again just before the write."""
        pool: Any = self.redis.connection_pool
        conn: Any = await pool.get_connection(*pool_args(pool))
        try:
            await _ready(conn)
            return await _exchange(conn, self._packer.pack(conn, writes), reply_count(writes))
        finally:
            await pool.release(conn)

    async def aclose(self) -> None:
        """Close the held connection, and the pool unless the client was handed in."""
        line, self._line = self._line, None
        if line is not None:
            if self._loop is asyncio.get_running_loop():
                await line.disconnect()
            else:
                _abandon(line)
        if self._owned:
            await self.redis.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def _ready(conn: Any) -> None:
    """Connect ``conn``, or check an idle one; nothing is written, so this may reconnect once.

    An idle connection that reads as ready (closed by the server, or holding bytes nobody asked
    for, in redis-py's buffers or still in the socket) cannot be trusted: it is dropped and a
    fresh one made (redis-py's ``connect()`` applies its own retry policy to connecting).

    Public API of redis-py 5.0 to 8: ``connect()`` returns at once on a connected connection,
    so it goes first and the check follows, on a new connection as on an idle one.
    """
    await _connect(conn)
    try:
        if not _unread(conn) and not await _can_read(conn):
            return
    except _NETWORK:
        pass
    await conn.disconnect(nowait=True)
    await _connect(conn)


async def _connect(conn: Any) -> None:
    try:
        await conn.connect()
    except BaseException:  # e.g. cancelled mid-handshake: a reply may still be on its way
        await _drop(conn)
        raise


async def _can_read(conn: Any) -> bool:
    """Whether redis-py sees bytes (or EOF) on ``conn``: ``can_read()`` from redis-py 6 on,
    ``can_read_destructive()`` before (deprecated since 8.0)."""
    can_read = getattr(conn, "can_read", None)
    if can_read is None:
        can_read = conn.can_read_destructive
    return bool(await can_read())


def _unread(conn: Any) -> bool:
    """Whether the socket holds bytes (or EOF) that the event loop has not read yet.

    The loop reads a socket only when it runs; a server's FIN that arrived while the loop was
    busy (say, right after a blocking ``CLIENT KILL``) is still in the kernel, unseen by
    redis-py's ``can_read()``. A zero-timeout ``select`` sees it. On TLS this may also see
    bytes of the TLS layer itself: the connection is then remade for nothing, which is safe.
    """
    writer = _stream(conn)
    sock = None if writer is None else writer.transport.get_extra_info("socket")
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):  # closed under us
        return True
    return bool(readable)


async def _exchange(conn: Any, packed: Sequence[bytes], count: int) -> list[Any]:
    """Write ``packed`` once and read ``count`` replies (error replies returned, not raised).

    Never retried: any connection error or timeout from here on drops the connection and is
    raised with a note that the commands may have run. A NOAUTH reply raises as redis-py's
    ``AuthenticationError`` (nothing ran: the server refused every command).
    """
    try:
        await _send(conn, packed)
        replies: list[Any] = []
        for _ in range(count):
            try:
                replies.append(await conn.read_response())
            except redis.ResponseError as exc:
                replies.append(exc)
        return replies
    except redis.AuthenticationError:
        await _drop(conn)
        raise
    except _NETWORK as exc:
        await _drop(conn)
        raise after_write(exc) from exc
    except BaseException:
        await _drop(conn)  # e.g. cancelled between write and read: out of step
        raise


async def _send(conn: Any, packed: Sequence[bytes]) -> None:
    """Write ``packed`` to a connected ``conn`` once.

    Straight into the transport, which sends at once what the socket takes; only bytes left to
    flush are waited for, within the socket timeout. (redis-py's ``send_packed_command`` runs
    every write under ``asyncio.wait_for`` when a socket timeout is set: a new task per call.)
    A failure to send shows here or, once the transport sees it, at the read. A connection
    without redis-py's private ``_writer`` asyncio stream (another implementation, such as
    fakeredis) gets the public ``send_packed_command``.
    """
    writer = _stream(conn)
    if writer is None:
        await conn.send_packed_command(packed, check_health=False)
        return
    writer.writelines(packed)
    if writer.transport.get_write_buffer_size():
        try:
            async with asyncio.timeout(conn.socket_timeout):
                await writer.drain()
        except TimeoutError:
            raise redis.TimeoutError("Timeout writing to socket") from None


def _stream(conn: Any) -> Any:
    """redis-py's private asyncio stream of ``conn``, when it has one on a real transport."""
    writer = getattr(conn, "_writer", None)
    transport = getattr(writer, "transport", None)
    return writer if hasattr(transport, "get_write_buffer_size") else None


async def _drop(conn: Any) -> None:
    """Disconnect without waiting; a failure to close is no news worth raising."""
    try:
        await conn.disconnect(nowait=True)
    except Exception:
        _abandon(conn)


def _abandon(conn: Any) -> None:
    """Close a connection without awaiting (its event loop may be gone)."""
    try:
        conn._close()
    except Exception:  # the loop is closed (or no ``_close``): nothing left to close it with
        with contextlib.suppress(AttributeError):
            conn._writer = conn._reader = None
