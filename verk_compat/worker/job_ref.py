"""Typed job references: what ``@app.job("HardWorker")`` returns for a function.

A :class:`JobRef` is still the function (calling it calls the function; the worker resolves the
job through the app's registry, never through the handle), plus Sidekiq's ``perform_async``
family checked against the function's signature::

    hard_worker.enqueue(1, "two")                  # HardWorker.perform_async(1, "two")
    hard_worker.enqueue_in(60, 1, "two")           # perform_in
    hard_worker.schedule(when, 1, "two")           # perform_at (``when`` is positional)
    hard_worker.enqueue_many([(1, "a"), (2, "b")]) # push_bulk (each checked at run time)
    hard_worker.set(queue="critical").enqueue(1, "two")
    await hard_worker.using(async_client).enqueue(1, "two")

mypy sees the parameter types of ``enqueue``, ``enqueue_in`` and ``schedule``. Before anything
is written, the call is bound to the signature (a missing or unexpected argument is a
``TypeError``) and every value must survive a JSON round trip unchanged (no tuple, set, bytes,
datetime, subclass of a JSON type or non-string dict key). The push carries the registered
options (``queue``, ``retry``, ``retry_queue``, ``dead``, ``backtrace``), as Sidekiq's client
writes a class's ``sidekiq_options``.

Keyword arguments: Sidekiq's ``args`` is a positional JSON array, so a keyword argument of a
positional parameter travels in its position (skipped parameters before it get their defaults,
written out); keyword-only parameters and ``**kwargs`` cannot round-trip and are refused
(ActiveJob's own keyword marker is not written: a Ruby job would not read it the same way).

The client is ``app.client`` (set it to a ``Client``, ``ShardedClient`` or testing
``FakeClient``) or the one given to :meth:`JobRef.using`; the worker layer does not build one
itself. Keys touched: those of the client.
"""

from __future__ import annotations

import datetime as _dt
import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, overload

from verk_compat.codec.job import now

__all__ = ["AsyncBound", "AsyncEnqueuer", "Bound", "Enqueuer", "JobRef", "round_trip_args"]

P = ParamSpec("P")
R = TypeVar("R")
At = _dt.datetime | float | int
_OPTION_KEYS = ("queue", "retry", "retry_queue", "dead", "backtrace")


class Enqueuer(Protocol):
    """What a handle needs of a client (``Client``, ``ShardedClient``, ``FakeClient``)."""

    def enqueue(self, class_name: str, args: Sequence[Any] = ..., *, queue: str = ...) -> str: ...

    def enqueue_many(
        self, class_name: str, many_args: Iterable[Sequence[Any]], *, queue: str = ...
    ) -> list[str]: ...

    def schedule(
        self, class_name: str, args: Sequence[Any] = ..., *, at: At, queue: str = ...
    ) -> str: ...


class AsyncEnqueuer(Protocol):
    """The asyncio shape (``AsyncClient``, ``AsyncShardedClient``, ``FakeAsyncClient``)."""

    def enqueue(
        self, class_name: str, args: Sequence[Any] = ..., *, queue: str = ...
    ) -> Awaitable[str]: ...

    def enqueue_many(
        self, class_name: str, many_args: Iterable[Sequence[Any]], *, queue: str = ...
    ) -> Awaitable[list[str]]: ...

    def schedule(
        self, class_name: str, args: Sequence[Any] = ..., *, at: At, queue: str = ...
    ) -> Awaitable[str]: ...


class _Registry(Protocol):
    """The app as a handle sees it (not imported: :mod:`verk_compat.worker.app` imports us)."""

    client: Enqueuer | None

    def spec(self, class_name: str) -> Any: ...


def round_trip_args(
    fn: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]
) -> list[Any]:
    """The Sidekiq ``args`` of the call ``fn(*args, **kwargs)``, or a ``TypeError`` saying why
    the call cannot be pushed (see the module docs)."""
    sig = _signature(fn)
    bound = sig.bind(*args, **kwargs)  # TypeError: missing or unexpected argument
    for name in bound.arguments:
        kind = sig.parameters[name].kind
        if kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD):
            raise TypeError(
                f"{fn.__qualname__}(): keyword-only argument {name!r} cannot travel in "
                "Sidekiq's positional args; make it a positional parameter"
            )
    given = [n for n in sig.parameters if n in bound.arguments]
    bound.apply_defaults()
    out: list[Any] = []
    for name, param in sig.parameters.items():
        if param.kind == inspect.Parameter.VAR_POSITIONAL:
            out.extend(bound.arguments.get(name, ()))
        elif param.kind in (inspect.Parameter.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            if name not in given and not any(g in given for g in _after(sig, name)):
                break  # trailing defaults stay the function's own
            out.append(bound.arguments[name])
    for i, value in enumerate(out):
        _check_json(value, f"{fn.__qualname__}() argument {i}")
    return out


@functools.cache
def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(fn)


def _after(sig: inspect.Signature, name: str) -> list[str]:
    names = list(sig.parameters)
    return names[names.index(name) + 1 :]


def _check_json(value: Any, path: str) -> None:
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return
    if kind is list:
        for i, item in enumerate(value):
            _check_json(item, f"{path}[{i}]")
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError(f"{path}: dict key {key!r} is not a string (JSON makes it one)")
            _check_json(item, f"{path}[{key!r}]")
        return
    raise TypeError(
        f"{path}: {kind.__name__} does not survive JSON unchanged; pass a list, dict, str, "
        "int, float, bool or None"
    )


class _Base(Generic[P]):
    def __init__(self, ref: JobRef[P, Any], options: dict[str, Any]) -> None:
        self._ref = ref
        self._options = options

    def _push_args(self, args: Sequence[Any], kwargs: dict[str, Any]) -> list[Any]:
        return round_trip_args(self._ref.fn, args, kwargs)

    def _many(self, many: Iterable[Sequence[Any]]) -> list[list[Any]]:
        return [self._push_args(list(args), {}) for args in many]


class Bound(_Base[P]):
    """A handle's pushes through one synchronous client."""

    def __init__(self, ref: JobRef[P, Any], options: dict[str, Any], client: Enqueuer) -> None:
        super().__init__(ref, options)
        self._client = client

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """``perform_async``: push the job now; returns its jid."""
        pushed = self._push_args(args, kwargs)
        return self._client.enqueue(self._ref.name, pushed, **self._options)

    def enqueue_in(self, seconds: float, /, *args: P.args, **kwargs: P.kwargs) -> str:
        """``perform_in``: run the job ``seconds`` from now."""
        return self.schedule(now() + float(seconds), *args, **kwargs)

    def schedule(self, at: At, /, *args: P.args, **kwargs: P.kwargs) -> str:
        """``perform_at``: run the job at ``at`` (datetime or epoch seconds)."""
        pushed = self._push_args(args, kwargs)
        return self._client.schedule(self._ref.name, pushed, at=at, **self._options)

    def enqueue_many(self, many_args: Iterable[Sequence[Any]]) -> list[str]:
        """``push_bulk``: one job per args list, every one checked before any is written."""
        return self._client.enqueue_many(self._ref.name, self._many(many_args), **self._options)


class AsyncBound(_Base[P]):
    """A handle's pushes through one asyncio client."""

    def __init__(self, ref: JobRef[P, Any], options: dict[str, Any], client: AsyncEnqueuer) -> None:
        super().__init__(ref, options)
        self._client = client

    async def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> str:
        pushed = self._push_args(args, kwargs)
        return await self._client.enqueue(self._ref.name, pushed, **self._options)

    async def enqueue_in(self, seconds: float, /, *args: P.args, **kwargs: P.kwargs) -> str:
        return await self.schedule(now() + float(seconds), *args, **kwargs)

    async def schedule(self, at: At, /, *args: P.args, **kwargs: P.kwargs) -> str:
        pushed = self._push_args(args, kwargs)
        return await self._client.schedule(self._ref.name, pushed, at=at, **self._options)

    async def enqueue_many(self, many_args: Iterable[Sequence[Any]]) -> list[str]:
        many = self._many(many_args)
        return await self._client.enqueue_many(self._ref.name, many, **self._options)


class JobRef(Generic[P, R]):
    """A registered job function that also pushes itself (see the module docs)."""

    # Copied from the function (functools.update_wrapper), as a decorator's result has them.
    __name__: str
    __qualname__: str
    __wrapped__: Callable[P, R]

    def __init__(
        self, app: _Registry, name: str, fn: Callable[P, R], overrides: dict[str, Any] | None = None
    ) -> None:
        self.app = app
        self.name = name
        self.fn = fn
        self._overrides = dict(overrides or {})
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<JobRef {self.name!r} -> {self.fn.__qualname__}>"

    def options(self) -> dict[str, Any]:
        """The options each push writes: the registration's, then :meth:`set`'s."""
        spec = self.app.spec(self.name)
        found = {k: getattr(spec, k, None) for k in _OPTION_KEYS}
        found.update(self._overrides)
        return {k: v for k, v in found.items() if v is not None}

    def set(
        self,
        *,
        queue: str | None = None,
        retry: bool | int | None = None,
        retry_queue: str | None = None,
        dead: bool | None = None,
        backtrace: bool | int | None = None,
    ) -> JobRef[P, R]:
        """Sidekiq's ``set``: a handle whose pushes use these options instead."""
        given = dict(queue=queue, retry=retry, retry_queue=retry_queue, dead=dead)
        given["backtrace"] = backtrace
        changed = {k: v for k, v in given.items() if v is not None}
        return JobRef(self.app, self.name, self.fn, {**self._overrides, **changed})

    @overload
    def using(self, client: Enqueuer) -> Bound[P]: ...
    @overload
    def using(self, client: AsyncEnqueuer) -> AsyncBound[P]: ...
    def using(self, client: Enqueuer | AsyncEnqueuer) -> Bound[P] | AsyncBound[P]:
        """The pushes through ``client`` (sync or asyncio) instead of ``app.client``."""
        if inspect.iscoroutinefunction(client.enqueue):
            return AsyncBound(self, self.options(), client)  # type: ignore[arg-type]
        return Bound(self, self.options(), client)  # type: ignore[arg-type]

    def _bound(self) -> Bound[P]:
        client = self.app.client
        if client is None:
            raise RuntimeError(
                f"{self.name}.enqueue() needs a client: set app.client = Client(...) "
                f"(or push with {self.fn.__name__}.using(client).enqueue(...))"
            )
        if inspect.iscoroutinefunction(client.enqueue):
            raise TypeError(
                f"app.client is an asyncio client: push with "
                f"await {self.fn.__name__}.using(client).enqueue(...)"
            )
        return Bound(self, self.options(), client)

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """``perform_async`` through ``app.client``; returns the jid."""
        return self._bound().enqueue(*args, **kwargs)

    def enqueue_in(self, seconds: float, /, *args: P.args, **kwargs: P.kwargs) -> str:
        """``perform_in`` through ``app.client``."""
        return self._bound().enqueue_in(seconds, *args, **kwargs)

    def schedule(self, at: At, /, *args: P.args, **kwargs: P.kwargs) -> str:
        """``perform_at`` through ``app.client`` (``at`` first, positional)."""
        return self._bound().schedule(at, *args, **kwargs)

    def enqueue_many(self, many_args: Iterable[Sequence[Any]]) -> list[str]:
        """``push_bulk`` through ``app.client``."""
        return self._bound().enqueue_many(many_args)
