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
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from verk_compat.errors import JobTimeout
from verk_compat.worker.retry import backtrace_lines, frame_lines
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

    __slots__ = (
        "_abandoned",
        "_ident",
        "_lock",
        "_started",
        "label",
        "seconds",
        "thread",
        "timed_out_at",
    )

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
        self._ident = 0  # the thread running a sync job, for its stack at the timeout

    async def run_async(self, call: Callable[..., Any], args: list[Any]) -> None:
        """Await ``call(*args)``; raise :class:`JobTimeout` if it outlives ``seconds``."""
        cm = asyncio.timeout(self.seconds)
        try:
            async with cm:
                await call(*args)
        except asyncio.CancelledError:
            raise  # a shutdown (ours became TimeoutError inside the context manager)
        except BaseException as exc:
            if not cm.expired():
                raise
            if not _is_ours(exc):
                raise JobTimeout(self.seconds) from exc
            timeout = JobTimeout(self.seconds)
            # The cancellation's traceback runs through the job to where it was awaiting.
            timeout.where = backtrace_lines(exc.__cause__) if exc.__cause__ else []
            raise timeout from None
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
        timeout = JobTimeout(self.seconds)
        timeout.where = self._thread_stack()
        log.warning(
            "%s: timed out after %gs; its thread cannot be stopped and keeps running, holding "
            "its slot until it returns (the job is failed now, its outcome will be ignored)",
            self.label,
            self.seconds,
        )
        raise timeout

    def _thread_stack(self) -> list[str]:
        """The running job's frames in its thread, innermost first (below :meth:`_guarded`)."""
        frame = sys._current_frames().get(self._ident) if self._ident else None
        if frame is None:
            return []
        stack = traceback.extract_stack(frame)
        calls = [i for i, f in enumerate(stack) if f.name == "_guarded" and f.filename == __file__]
        return frame_lines(stack[calls[-1] + 1 :] if calls else stack)

    def _guarded(self, call: Callable[..., Any], args: list[Any]) -> Any:
        """In the pool thread: run ``call(*args)`` unless the job already timed out."""
        with self._lock:
            if self._abandoned:
                return None
            self._started = True
            self._ident = threading.get_ident()
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
