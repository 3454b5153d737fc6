"""The asyncio Sidekiq client: :class:`AsyncClient`, a thin adapter over the shared plan.

Payloads, batching, scores and keys come from :class:`verk_compat.client.Planner`; this module
only runs its :class:`~verk_compat.clientplan.Write` s on a ``redis.asyncio`` pipeline.

Redis keys written: ``queues`` (SADD) + ``queue:<q>`` (LPUSH), ``schedule`` (ZADD), or for
the Resque target ``resque:queues`` (SADD) + ``resque:queue:<q>`` (RPUSH); see
:mod:`verk_compat.client`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

from redis.asyncio import Redis as AsyncRedis

from .client import default_url, unavailable, where
from .clientplan import At, Middleware, Planner, Target, Write, epoch, options_of
from .codec import Profile, now

__all__ = ["AsyncClient"]


class AsyncClient:
    """Asyncio Sidekiq client on ``redis.asyncio.Redis``; same API as :class:`Client`.

    Args:
        redis_url: ``redis://`` or ``rediss://`` (TLS) URL, with ``user:password@`` for
            AUTH/ACL; defaults to ``$REDIS_URL``. Ignored when ``redis`` is given.
        redis: An existing asyncio client to use (not closed by :meth:`aclose`).
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
        redis: AsyncRedis | None = None,
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

    async def enqueue(
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
        await self._run([write])
        return jid

    async def enqueue_many(
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
            await self._run([self.planner.push_batch(class_name, batch, opts)])
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
        **options: Any,
    ) -> str:
        """Run the job at ``at`` (datetime or epoch seconds); a past time enqueues at once."""
        job = self.planner.job(class_name, args, options_of(queue, retry, jid, options))
        await self._run([self.planner.at(job, epoch(at))])
        return str(job.jid)

    async def enqueue_in(
        self, seconds: float, class_name: str, args: Sequence[Any] = (), **options: Any
    ) -> str:
        """Run the job ``seconds`` from now (Sidekiq's ``perform_in``)."""
        return await self.schedule(class_name, args, at=now() + float(seconds), **options)

    async def _run(self, writes: Sequence[Write]) -> None:
        with unavailable(self._where):
            pipe = self.redis.pipeline(transaction=False)
            for write in writes:
                write.stage(pipe)
            await pipe.execute()

    async def aclose(self) -> None:
        """Close the connection pool, unless the client was handed in."""
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


def _from_url(url: str) -> AsyncRedis:
    try:
        return AsyncRedis.from_url(url)
    except ValueError as exc:
        raise ValueError(f"bad Redis URL: {exc}") from None
