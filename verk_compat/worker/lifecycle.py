"""Process lifecycle hooks: ``on_startup`` / ``on_shutdown`` and the per-process context.

``@app.on_startup`` hooks (``def`` or ``async def``, taking the :class:`ProcessContext`) run in
registration order before the process heartbeats or fetches a job; one that raises stops the
worker from starting (as Sidekiq's ``:startup`` event with ``reraise``). ``@app.on_shutdown``
hooks run in reverse order once every job has finished or been pushed back, so a resource a
startup hook opened (a database pool, an HTTP session) lives as long as any job that uses it;
one that raises is logged and the others still run. Jobs read what the hooks put on
``app.context`` (``app.context.db``). Each worker process (``--processes N`` forks N) runs its
own hooks and has its own context.

Keys touched: none.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

__all__ = ["Hook", "ProcessContext", "lifespan", "run_shutdown", "run_startup"]

log = logging.getLogger(__name__)


class ProcessContext(SimpleNamespace):
    """Per-process state: startup hooks set attributes, jobs read them.

    Set by the worker: ``identity`` (the Sidekiq process identity) and ``redis`` (its
    ``redis.asyncio`` client), before the startup hooks run.
    """


#: A lifecycle hook: called with the process context; may be a coroutine function.
Hook = Callable[[ProcessContext], Any]


async def _call(hook: Hook, context: ProcessContext) -> None:
    result = hook(context)
    if inspect.isawaitable(result):
        await result


async def run_startup(hooks: Sequence[Hook], context: ProcessContext) -> None:
    """Run the startup hooks in order; the first exception propagates."""
    for hook in hooks:
        await _call(hook, context)


async def run_shutdown(hooks: Sequence[Hook], context: ProcessContext) -> None:
    """Run the shutdown hooks in reverse order; each failure is logged, none stops the rest."""
    for hook in reversed(hooks):
        try:
            await _call(hook, context)
        except Exception:
            log.exception("shutdown hook %s failed", getattr(hook, "__qualname__", hook))


@asynccontextmanager
async def lifespan(
    startup: Sequence[Hook], shutdown: Sequence[Hook], context: ProcessContext
) -> AsyncIterator[ProcessContext]:
    """Startup hooks, the body, then shutdown hooks (also when the body raises)."""
    await run_startup(startup, context)
    try:
        yield context
    finally:
        await run_shutdown(shutdown, context)
