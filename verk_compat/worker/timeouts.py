"""Job timeouts: which timeout applies to a job, and running a job under it.

:func:`effective_timeout` is the decision (pure): the job's own ``@app.job(..., timeout=)`` wins,
``0`` there meaning "no timeout for this job"; otherwise the worker's ``job_timeout``. No payload
key is read (Sidekiq has no standard one).

:class:`Deadline` is the mechanism, one per job that has a timeout:

* an ``async def`` job runs under :func:`asyncio.timeout`; when it expires the job's task is
  cancelled and the job fails with :class:`~verk_compat.errors.JobTimeout` (also if the job
  swallowed the cancellation, or raised something else while being cancelled: that exception is
  the ``JobTimeout``'s cause). A shutdown's cancellation is not a timeout: it propagates as
  before (the job stays in progress and goes back to its queue).
* a sync job runs in a :class:`~verk_compat.worker.sync_pool.SyncPool` thread, and a thread
  cannot be killed: when the timeout expires the job fails with ``JobTimeout`` at once (retry or
  dead written, removed from in-progress, never acknowledged), a warning says its thread still
  runs, and :meth:`Deadline.outlive` keeps the job's slot busy until the thread returns, so a
  worker never runs more jobs than its concurrency. What the thread returns or raises later is
  logged and otherwise ignored.

Keys touched: none.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from verk_compat.errors import JobTimeout
from verk_compat.worker.sync_pool import SyncPool

__all__ = ["Deadline", "check_timeout", "effective_timeout"]

log = logging.getLogger(__name__)


def check_timeout(value: float | None, what: str) -> float | None:
    """``value`` as a timeout in seconds (None: not set); raises ValueError naming ``what`` for
    a negative, NaN, infinite or non-numeric value."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number of seconds, not {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number of seconds >= 0, not {value!r}")
    return float(value)


def effective_timeout(job_timeout: float | None, worker_timeout: float | None) -> float | None:
    """The timeout in seconds for a job, or None for no timeout.

    ``job_timeout`` is the registration's (None: not set, 0: no timeout for this job whatever
    the worker says); ``worker_timeout`` the worker's default (None or 0: none).
    """
    if job_timeout is not None:
        return job_timeout or None
    return worker_timeout or None


class Deadline:
    """Runs one job's call under ``seconds``; remembers a sync job's thread that outlived it."""

    __slots__ = ("_abandoned", "_lock", "_started", "label", "seconds", "thread", "timed_out_at")

    def __init__(self, seconds: float, label: str = "") -> None:
        self.seconds = seconds
        #: Names the job in log lines (jid and class).
        self.label = label
        #: A sync job's result, still pending after the timeout (its thread still runs).
        self.thread: asyncio.Future[Any] | None = None
        self.timed_out_at = 0.0
        # A sync job no thread took before its timeout must never start (it is failed already).
        self._lock = threading.Lock()
        self._started = False
        self._abandoned = False

    async def run_async(self, call: Callable[..., Any], args: list[Any]) -> None:
        """Await ``call(*args)``; raise :class:`JobTimeout` if it outlives ``seconds``."""
        cm = asyncio.timeout(self.seconds)
        try:
            async with cm:
                await call(*args)
        except asyncio.CancelledError:
            raise  # a shutdown (ours became TimeoutError inside the context manager)
        except BaseException as exc:
            if cm.expired():
                raise JobTimeout(self.seconds) from (None if _is_ours(exc) else exc)
            raise
        if cm.expired():  # the job swallowed the cancellation and returned
            raise JobTimeout(self.seconds)

    async def run_sync(self, pool: SyncPool, call: Callable[..., Any], args: list[Any]) -> None:
        """Run ``call(*args)`` in ``pool``; raise :class:`JobTimeout` if it outlives ``seconds``
        (the thread keeps running: see :meth:`outlive`)."""
        future = pool.run(self._guarded, call, args)
        try:
            done, _ = await asyncio.wait({future}, timeout=self.seconds)
        except asyncio.CancelledError:
            future.cancel()  # a shutdown: as an un-timed job would, forget the result
            raise
        if done:
            future.result()
            return
        with self._lock:
            self._abandoned = True
            started = self._started
        if not started:  # every thread was busy: it never runs, nothing to wait for
            future.cancel()
            log.warning("%s: timed out after %gs before it started", self.label, self.seconds)
            raise JobTimeout(self.seconds)
        self.thread = future
        self.timed_out_at = time.monotonic()
        log.warning(
            "%s: timed out after %gs; its thread cannot be stopped and keeps running, holding "
            "its slot until it returns (the job is failed now, its outcome will be ignored)",
            self.label,
            self.seconds,
        )
        raise JobTimeout(self.seconds)

    def _guarded(self, call: Callable[..., Any], args: list[Any]) -> Any:
        """In the pool thread: run ``call(*args)`` unless the job already timed out."""
        with self._lock:
            if self._abandoned:
                return None
            self._started = True
        return call(*args)

    async def outlive(self) -> None:
        """Wait for a timed-out sync job's thread, so that its slot is not reused meanwhile.

        Returns at once if there is none, or if the task is being cancelled (a shutdown: the
        thread is a daemon and the job was already failed).
        """
        future, self.thread = self.thread, None
        if future is None:
            return
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            future.cancel()
            return
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            outcome = f"raised {type(exc).__name__}: {exc}"
        else:
            outcome = "returned"
        log.warning(
            "%s: the timed-out job's thread %s %.1fs after its timeout; outcome ignored, "
            "slot free again",
            self.label,
            outcome,
            time.monotonic() - self.timed_out_at,
        )


def _is_ours(exc: BaseException) -> bool:
    """Whether ``exc`` is the TimeoutError :func:`asyncio.timeout` made of our cancellation."""
    return isinstance(exc, TimeoutError) and isinstance(exc.__cause__, asyncio.CancelledError)
