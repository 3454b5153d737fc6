"""The sync-job thread pool (:mod:`verk_compat.worker.sync_pool`): batching, reporting, slow
jobs."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from typing import Any

import pytest

from verk_compat.worker.sync_pool import SyncPool


class CountingPool(SyncPool):
    """Records the size of every batch handed to the threads."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.handed: list[int] = []

    def _hand_off(self) -> None:
        if self._submit:
            self.handed.append(len(self._submit))
        super()._hand_off()


async def test_jobs_of_two_consecutive_turns_make_one_batch() -> None:
    pool = CountingPool(4)
    try:
        first = pool.run(lambda: "a")
        await asyncio.sleep(0)  # the coroutines woken now add theirs in the next turn
        rest = [pool.run(lambda i=i: i) for i in range(9)]
        assert await asyncio.gather(first, *rest) == ["a", *range(9)]
        assert pool.handed == [10]
    finally:
        pool.shutdown()


async def test_results_exceptions_and_threads() -> None:
    pool = SyncPool(2)
    main = threading.get_ident()

    def where() -> int:
        return threading.get_ident()

    def boom() -> None:
        raise ValueError("boom")

    try:
        ident = await pool.run(where)
        assert ident != main
        with pytest.raises(ValueError, match="boom"):
            await pool.run(boom)
        assert await pool.run(divmod, 7, 2) == (3, 1)
    finally:
        pool.shutdown()


async def test_a_short_job_is_not_held_back_by_a_slow_one_in_its_batch() -> None:
    pool = SyncPool(1, spread_after=0.01)  # one thread: the slow job runs after the short one
    try:
        short = pool.run(lambda: "short")
        slow = pool.run(time.sleep, 1.0)
        began = time.monotonic()
        assert await asyncio.wait_for(short, 0.5) == "short"
        assert time.monotonic() - began < 0.5
        await slow
    finally:
        pool.shutdown()


async def test_slow_jobs_of_one_batch_run_in_parallel() -> None:
    pool = SyncPool(4, spread_after=0.005)
    try:
        began = time.monotonic()
        await asyncio.gather(*(pool.run(time.sleep, 0.3) for _ in range(4)))
        assert time.monotonic() - began < 0.9
    finally:
        pool.shutdown()


async def test_cancelled_jobs_are_skipped_and_earlier_results_still_arrive() -> None:
    pool = SyncPool(1)
    ran: list[int] = []
    try:
        futures = [pool.run(ran.append, i) for i in range(3)]
        futures[1].cancel()
        futures[2].cancel()
        assert await asyncio.wait_for(futures[0], 2) is None
        await asyncio.sleep(0.05)
        assert ran == [0]
    finally:
        pool.shutdown()


REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("REQUEST_ID", default="none")


async def test_a_sync_job_sees_the_submitters_context_variables() -> None:
    """Issue 9: context variables set before a sync job (in a middleware, say) did not reach
    the job's thread; the pool runs each job in a copy of the context, as asyncio.to_thread."""
    pool = SyncPool(2)

    def seen() -> str:
        value = REQUEST_ID.get()
        REQUEST_ID.set("changed by the job")  # stays in the job's own copy
        return value

    async def submit(rid: str) -> str:
        REQUEST_ID.set(rid)
        value: str = await pool.run(seen)
        return value

    try:
        assert list(await asyncio.gather(submit("a"), submit("b"))) == ["a", "b"]
        assert await pool.run(seen) == "none"
        assert REQUEST_ID.get() == "none"
    finally:
        pool.shutdown()
