"""Server middleware chain, Sidekiq style: each link wraps the job and calls the next.

A middleware is an async callable ``(ctx, call_next) -> None``; it may run code before and after
``await call_next()``, or skip the job by not calling it. An exception raised anywhere in the
chain is the job's failure and follows the retry rules.

Keys touched: none.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from verk_compat.codec.job import Job

__all__ = ["JobContext", "Middleware", "run_chain"]


@dataclass(slots=True)
class JobContext:
    """What a middleware sees: the decoded job, its queue and the raw bytes as fetched."""

    job: Job
    queue: str
    raw: bytes


Next = Callable[[], Awaitable[None]]
Middleware = Callable[[JobContext, Next], Awaitable[None]]


async def run_chain(chain: Sequence[Middleware], ctx: JobContext, job: Next) -> None:
    """Run ``job`` inside ``chain`` (first element outermost)."""

    async def step(index: int) -> None:
        if index == len(chain):
            await job()
        else:
            await chain[index](ctx, lambda: step(index + 1))

    await step(0)
