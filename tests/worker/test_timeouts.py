"""Job timeouts (:mod:`verk_compat.worker.timeouts`): the decision and the mechanism (real
workers: test_timeouts_worker.py)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

import pytest

from verk_compat import JobTimeout
from verk_compat.worker.app import App
from verk_compat.worker.launcher import Worker
from verk_compat.worker.retry import backtrace_lines, error_class_name
from verk_compat.worker.sync_pool import SyncPool
from verk_compat.worker.timeouts import Deadline, check_timeout, effective_timeout

# -- the decision -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("job", "worker", "expected"),
    [
        (None, None, None),
        (None, 0, None),
        (None, 30, 30),
        (5, None, 5),
        (5, 30, 5),  # the job's own timeout wins, longer or shorter
        (60, 30, 60),
        (0, 30, None),  # 0 on the job: no timeout for it, whatever the worker says
        (0, None, None),
    ],
)
def test_effective_timeout(job: float | None, worker: float | None, expected: float | None) -> None:
    assert effective_timeout(job, worker) == expected


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "30", True])
def test_a_bad_timeout_is_refused_by_name(bad: Any) -> None:
    with pytest.raises(ValueError, match="job 'X': timeout"):
        check_timeout(bad, "job 'X': timeout")
    with pytest.raises(ValueError, match="job 'X': timeout"):
        App().register("X", lambda: None, timeout=bad)
    with pytest.raises(ValueError, match="job_timeout"):
        Worker(App(), {"default": 1}, redis_url="redis://127.0.0.1:1", job_timeout=bad)


def test_job_timeout_error_class_on_the_wire() -> None:
    exc = JobTimeout(2.5)
    assert error_class_name(exc) == "verk_compat.JobTimeout"
    assert str(exc) == "job ran longer than its 2.5s timeout"
    assert exc.seconds == 2.5


# -- the mechanism ----------------------------------------------------------------------------


async def test_an_async_job_past_its_timeout_is_cancelled() -> None:
    seen: list[str] = []

    async def job() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    with pytest.raises(JobTimeout) as info:
        await Deadline(0.05).run_async(job, [])
    assert seen == ["cancelled"]
    assert info.value.__cause__ is None


async def test_an_async_job_swallowing_the_cancellation_still_times_out() -> None:
    async def stubborn() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(10)

    async def cleanup_fails() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise OSError("cleanup failed") from None

    with pytest.raises(JobTimeout):
        await Deadline(0.05).run_async(stubborn, [])
    with pytest.raises(JobTimeout) as info:
        await Deadline(0.05).run_async(cleanup_fails, [])
    assert isinstance(info.value.__cause__, OSError)


async def test_a_jobs_own_timeout_error_is_not_a_job_timeout() -> None:
    async def own() -> None:
        async with asyncio.timeout(0.01):
            await asyncio.sleep(10)

    with pytest.raises(TimeoutError) as info:
        await Deadline(5).run_async(own, [])
    assert not isinstance(info.value, JobTimeout)


async def test_a_shutdown_cancellation_is_not_a_timeout() -> None:
    started = asyncio.Event()

    async def job() -> None:
        started.set()
        await asyncio.sleep(10)

    task = asyncio.create_task(Deadline(5).run_async(job, []))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_sync_job_past_its_timeout_fails_and_its_thread_is_outlived() -> None:
    pool = SyncPool(1)
    release = threading.Event()
    try:
        deadline = Deadline(0.05, "jid=x class=Sync")
        with pytest.raises(JobTimeout):
            await deadline.run_sync(pool, release.wait, [10])
        assert deadline.thread is not None and not deadline.thread.done()
        outlive = asyncio.create_task(deadline.outlive())
        await asyncio.sleep(0.1)
        assert not outlive.done()  # the thread still runs: its slot stays taken
        release.set()
        await outlive
        assert deadline.thread is None
        await deadline.outlive()  # once only: nothing left to wait for
    finally:
        release.set()
        pool.shutdown()


async def test_a_sync_job_that_timed_out_before_it_started_never_runs() -> None:
    pool = SyncPool(1)
    release = threading.Event()
    ran: list[str] = []
    try:
        busy = pool.run(release.wait, 20)  # the only thread is taken
        deadline = Deadline(0.05, "jid=y class=Late")
        with pytest.raises(JobTimeout):
            await deadline.run_sync(pool, lambda: ran.append("late"), [])
        assert deadline.thread is None  # no thread of its own to wait for
        release.set()
        await busy
        await pool.run(lambda: None)  # the thread has gone past the abandoned job
        assert ran == []
    finally:
        release.set()
        pool.shutdown()


async def _stuck_here() -> None:
    await asyncio.sleep(10)


async def test_a_timed_out_async_jobs_backtrace_is_where_it_was_stuck() -> None:
    async def job() -> None:
        await _stuck_here()

    with pytest.raises(JobTimeout) as caught:
        await Deadline(0.05).run_async(job, [])
    where = backtrace_lines(caught.value)
    assert any("in `_stuck_here'" in line for line in where), where
    assert [line for line in where if "in `job'" in line] and __file__ in where[1]


def _blocks(release: threading.Event) -> None:
    release.wait(10)


async def test_a_timed_out_sync_jobs_backtrace_is_its_threads_stack() -> None:
    pool = SyncPool(1)
    release = threading.Event()
    try:
        with pytest.raises(JobTimeout) as caught:
            await Deadline(0.05).run_sync(pool, _blocks, [release])
    finally:
        release.set()
        pool.shutdown()
    where = backtrace_lines(caught.value)
    # Innermost first: threading's wait, then the job; nothing above the job's own call.
    job_lines = [line for line in where if line.startswith(__file__)]
    assert job_lines and "in `_blocks'" in job_lines[0], where
    assert "in `_blocks'" in where[-1] and not any("_guarded" in line for line in where)
