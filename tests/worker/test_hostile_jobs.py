"""Jobs that attack their worker (issue 15 and 16): a real Worker in-process, a real Redis.

A job's exception, whatever it is, is that job's failure with Sidekiq's retry rules; the worker
goes on serving the other jobs. The retry payload comes from the fetched bytes, never from
objects the job could touch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
from typing import Any

import pytest
import redis

from tests.support.replies import zmembers
from verk_compat.codec.job import Job, now
from verk_compat.keys import Keys
from verk_compat.worker.app import App
from verk_compat.worker.launcher import Worker

K = Keys()


def push(r: redis.Redis, job: Job) -> bytes:
    raw = job.replace(enqueued_at=now()).encode()
    r.lpush(K.queue(job.queue or "default"), raw)
    return raw


async def run_burst(app: App, redis_url: str, concurrency: int = 2) -> None:
    """Run a burst worker until the queue is drained; a BaseException escaping it (the old
    behaviour: the process died) is turned into a test failure, not a pytest abort."""
    w = Worker(app, {"default": concurrency}, redis_url=redis_url, burst=True, block_timeout=0.2)
    try:
        await asyncio.wait_for(w.run(), 20)
    except (SystemExit, KeyboardInterrupt) as exc:
        pytest.fail(f"the worker died of a job's {type(exc).__name__}")
    finally:
        await w.aclose()


async def test_system_exit_and_keyboard_interrupt_are_job_failures(
    r: redis.Redis, redis_url: str
) -> None:
    """Issue 15 (poison pill): ``sys.exit()`` in a sync job, ``SystemExit`` in an async job and
    ``KeyboardInterrupt`` in either ended the worker process; the job was not recorded and went
    on killing every worker that fetched it. Now each is that job's failure, retried as
    Sidekiq does (it rescues Exception, SystemExit and Interrupt included), and the worker
    serves the rest of the queue."""
    app = App()
    ran: list[int] = []

    @app.job("SyncExit")
    def sync_exit() -> None:
        sys.exit(3)

    @app.job("AsyncExit")
    async def async_exit() -> None:
        raise SystemExit("bye")

    @app.job("SyncInterrupt")
    def sync_interrupt() -> None:
        raise KeyboardInterrupt

    @app.job("AsyncInterrupt")
    async def async_interrupt() -> None:
        raise KeyboardInterrupt

    @app.job("Fine")
    def fine(i: int) -> None:
        ran.append(i)

    push(r, Job.new("Fine", [0]))
    for name in ("SyncExit", "AsyncExit", "SyncInterrupt", "AsyncInterrupt"):
        push(r, Job.new(name, []))
    for i in range(1, 4):
        push(r, Job.new("Fine", [i]))
    await run_burst(app, redis_url, concurrency=1)
    assert sorted(ran) == [0, 1, 2, 3]
    failed = {Job.decode(m).class_name: Job.decode(m) for m in zmembers(r, K.retry)}
    assert {name: (j.error_class, j.retry_count) for name, j in failed.items()} == {
        "SyncExit": ("SystemExit", 0),
        "AsyncExit": ("SystemExit", 0),
        "SyncInterrupt": ("KeyboardInterrupt", 0),
        "AsyncInterrupt": ("KeyboardInterrupt", 0),
    }
    assert failed["SyncExit"].error_message == "3"
    assert int(r.get(K.stat_failed) or 0) == 4
    assert int(r.get(K.stat_processed) or 0) == 8
    assert r.keys("inprogress:*") == []


async def test_a_cancelled_error_raised_by_the_job_itself_is_its_failure(
    r: redis.Redis, redis_url: str
) -> None:
    """A job that raises ``CancelledError`` itself (nobody cancelled its task) used to be
    taken for a shutdown: the slot that ran it ended and the job stayed in progress, so each
    fetch of it cost the worker one slot. It is the job's failure now; a real shutdown still
    sends running jobs back to their queue (``test_worker.py``)."""
    app = App()
    ran: list[int] = []

    @app.job("AsyncCancel")
    async def async_cancel() -> None:
        raise asyncio.CancelledError

    @app.job("SyncCancel")
    def sync_cancel() -> None:
        raise concurrent.futures.CancelledError

    @app.job("Fine")
    def fine(i: int) -> None:
        ran.append(i)

    push(r, Job.new("AsyncCancel", []))
    push(r, Job.new("SyncCancel", []))
    for i in range(3):
        push(r, Job.new("Fine", [i]))
    await run_burst(app, redis_url, concurrency=1)
    assert sorted(ran) == [0, 1, 2]
    failed = sorted(Job.decode(m).class_name for m in zmembers(r, K.retry))
    assert failed == ["AsyncCancel", "SyncCancel"]
    assert {Job.decode(m).error_class for m in zmembers(r, K.retry)} == {
        "asyncio.exceptions.CancelledError",
        "concurrent.futures._base.CancelledError",
    }
    assert r.keys("inprogress:*") == []


async def test_a_job_that_edits_its_args_is_retried_with_the_args_it_was_given(
    r: redis.Redis, redis_url: str
) -> None:
    """Issue 15: the retry payload was encoded from the job's decoded args, which the job
    itself had edited in place, so the retry ran with other arguments than the original."""
    app = App()

    @app.job("Editor")
    def editor(order: dict[str, Any], items: list[Any]) -> None:
        order["status"] = "half-done"
        items.append("extra")
        items[0]["n"] = 99
        raise RuntimeError("failed midway")

    push(r, Job.new("Editor", [{"id": 1}, [{"n": 1}]]))
    await run_burst(app, redis_url)
    [member] = zmembers(r, K.retry)
    job = Job.decode(member)
    assert job.args == [{"id": 1}, [{"n": 1}]]
    assert (job.error_class, job.retry_count) == ("RuntimeError", 0)


async def test_a_job_that_stores_an_object_in_its_args_still_retries(
    r: redis.Redis, redis_url: str
) -> None:
    """Issue 15: a job that put a non-JSON object into an argument went to dead on its first
    failure (its retry could not be encoded) instead of being retried."""
    app = App()

    @app.job("Stasher")
    def stasher(state: dict[str, Any]) -> None:
        state["conn"] = object()
        raise RuntimeError("failed after stashing")

    push(r, Job.new("Stasher", [{"k": "v"}]))
    await run_burst(app, redis_url)
    assert r.zcard(K.dead) == 0
    [member] = zmembers(r, K.retry)
    assert Job.decode(member).args == [{"k": "v"}]


@pytest.mark.parametrize(
    "field",
    [
        '"retry":' + "9" * 400 + ',"retry_count":' + "9" * 300,
        '"retry":1' + "0" * 81 + ',"retry_count":1' + "0" * 80,
    ],
    ids=["huge", "count-to-the-fourth-beyond-float"],
)
async def test_a_huge_retry_or_retry_count_goes_to_dead_as_fetched(
    r: redis.Redis, redis_url: str, field: str
) -> None:
    """Issue 16: a huge ``retry_count`` (or ``retry``) raised OverflowError while computing
    the retry delay, out of the failure path: the job stayed in progress for ever (and ran
    again after every restart). It goes to dead untouched, and the worker goes on."""
    app = App()
    ran: list[int] = []

    @app.job("Failing")
    def failing() -> None:
        raise RuntimeError("fails")

    @app.job("Fine")
    def fine(i: int) -> None:
        ran.append(i)

    raw = (
        b'{"class":"Failing","args":[],"jid":"0123456789abcdef01234567","queue":"default",'
        + field.encode()
        + b"}"
    )
    r.lpush(K.queue("default"), raw)
    push(r, Job.new("Fine", [1]))
    await run_burst(app, redis_url)
    assert ran == [1]
    assert zmembers(r, K.dead) == [raw]
    assert r.zcard(K.retry) == 0
    assert r.keys("inprogress:*") == []
