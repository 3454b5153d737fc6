"""Queues sharded across several Redis servers by name, for the enqueue side.

Sidekiq shards by giving a job (or a client) another Redis pool; here the routing is a table
of queue name -> Redis URL (or an existing client), with a default for every other queue, so
the code that enqueues names queues only. One :class:`~verk_compat.client.client.Client` (or
:class:`~verk_compat.client.async_client.AsyncClient`) per distinct server is built lazily and
shared. Redis Cluster is not used: Sidekiq's keys for one queue (``queue:<q>``, ``queues``,
``schedule``, ``retry``...) span hash slots, so each shard is a whole Redis.

Keys touched: those of the clients, on the server of each job's queue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar, Unpack

from verk_compat.client.async_client import AsyncClient
from verk_compat.client.client import Client
from verk_compat.client.options import JobOptions
from verk_compat.client.planner import At

__all__ = ["AsyncShardedClient", "ShardedClient"]

_C = TypeVar("_C", bound=Client | AsyncClient)


class _Routes(Generic[_C]):
    def __init__(
        self,
        make: Callable[..., _C],
        routes: Mapping[str, str | _C],
        default: str | _C | None,
        options: dict[str, Any],
    ) -> None:
        self._make: Callable[..., _C] = make
        self._options = options
        self._by_url: dict[str, _C] = {}
        self._routes: dict[str, _C] = {q: self._client(target) for q, target in routes.items()}
        self._default: _C = self._client(default)

    def _client(self, target: str | _C | None) -> _C:
        if target is not None and not isinstance(target, str):
            return target
        key = target or ""
        if key not in self._by_url:
            self._by_url[key] = self._make(target or None, **self._options)
        return self._by_url[key]

    def for_queue(self, queue: str) -> _C:
        return self._routes.get(queue, self._default)

    def clients(self) -> list[_C]:
        return list({id(c): c for c in [*self._routes.values(), self._default]}.values())


class ShardedClient:
    """:class:`Client`'s methods, each sent to the server of the job's ``queue``.

    ``routes`` maps queue names to a URL or a client; every other queue goes to ``default``
    (a URL, a client, or ``$REDIS_URL``). ``options`` are passed to the clients built here.
    """

    def __init__(
        self,
        routes: Mapping[str, str | Client],
        *,
        default: str | Client | None = None,
        **options: Any,
    ) -> None:
        self._routes = _Routes(Client, routes, default, options)

    def client_for(self, queue: str) -> Client:
        """The client of the server that holds ``queue``."""
        return self._routes.for_queue(queue)

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
        client = self.client_for(queue)
        return client.enqueue(
            class_name, args, queue=queue, retry=retry, jid=jid, extra=extra, **options
        )

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
        client = self.client_for(queue)
        return client.enqueue_many(
            class_name, many_args, queue=queue, retry=retry, extra=extra, **options
        )

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
        client = self.client_for(queue)
        return client.schedule(
            class_name, args, at=at, queue=queue, retry=retry, jid=jid, extra=extra, **options
        )

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
        client = self.client_for(queue)
        return client.enqueue_in(
            seconds, class_name, args, queue=queue, retry=retry, jid=jid, extra=extra, **options
        )

    def close(self) -> None:
        for client in self._routes.clients():
            client.close()


class AsyncShardedClient:
    """:class:`AsyncClient`'s methods, each sent to the server of the job's ``queue``."""

    def __init__(
        self,
        routes: Mapping[str, str | AsyncClient],
        *,
        default: str | AsyncClient | None = None,
        **options: Any,
    ) -> None:
        self._routes = _Routes(AsyncClient, routes, default, options)

    def client_for(self, queue: str) -> AsyncClient:
        """The client of the server that holds ``queue``."""
        return self._routes.for_queue(queue)

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
        client = self.client_for(queue)
        return await client.enqueue(
            class_name, args, queue=queue, retry=retry, jid=jid, extra=extra, **options
        )

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
        client = self.client_for(queue)
        return await client.enqueue_many(
            class_name, many_args, queue=queue, retry=retry, extra=extra, **options
        )

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
        client = self.client_for(queue)
        return await client.schedule(
            class_name, args, at=at, queue=queue, retry=retry, jid=jid, extra=extra, **options
        )

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
        client = self.client_for(queue)
        return await client.enqueue_in(
            seconds, class_name, args, queue=queue, retry=retry, jid=jid, extra=extra, **options
        )

    async def aclose(self) -> None:
        for client in self._routes.clients():
            await client.aclose()
