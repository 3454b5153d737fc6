"""A bounded thread pool for sync jobs: one hand-off per batch of jobs, not one per job.

``loop.run_in_executor`` costs a queue hand-off (a thread wake-up) per job and a self-pipe write
(a syscall and a loop wake-up) per result. Here the jobs submitted during one loop turn and the
next go to the threads as one batch (the extra turn lets the coroutines the first job's turn
woke up add theirs: a fetched batch becomes one hand-off, not a job alone and then the rest):
one thread is woken and runs them one after another, and if the batch is not finished shortly
after (``spread_after``, a job is slow) it is offered to the idle threads too, which take the
remaining jobs one at a time, so slow jobs still run in parallel and at most ``size`` jobs ever
run at once. Finished jobs go on a deque; a thread asks the loop to drain it when it has run
out of jobs, or at once for every job that ends past ``spread_after`` (and the loop drains it
itself at ``spread_after``), so a job finished early in a batch is reported at most
``spread_after`` late, a batch of short jobs is reported with one loop wake-up, and a drain is
scheduled only if none is pending.

A job runs in a copy of the submitting coroutine's context (``contextvars.copy_context().run``,
as ``asyncio.to_thread`` does): context variables a middleware set (a request id a logging
filter reads, say) are seen by sync jobs too, and what a job sets stays with it.

Keys touched: none.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["SyncPool"]

_Work = tuple[contextvars.Context, Callable[..., Any], tuple[Any, ...], asyncio.Future[Any]]
_Batch = collections.deque[_Work]
#: A batch and the ``time.monotonic()`` after which each result is reported at once.
_Handed = tuple[_Batch, float]
_monotonic = time.monotonic


class SyncPool:
    """``size`` daemon threads running plain functions for coroutines on one loop."""

    def __init__(self, size: int, name: str = "verk-job", *, spread_after: float = 0.002) -> None:
        self.size = max(1, size)
        self.name = name
        self.spread_after = spread_after
        self._work: queue.SimpleQueue[_Handed | None] = queue.SimpleQueue()
        self._done: collections.deque[tuple[asyncio.Future[Any], bool, Any]] = collections.deque()
        self._drain_pending = False
        self._submit: _Batch | None = None
        self._idle = 0
        self._idle_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def run(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Run ``fn(*args)`` in a pool thread; the future resolves on the calling loop."""
        if self._loop is None:
            self._start()
        assert self._loop is not None
        future: asyncio.Future[Any] = self._loop.create_future()
        batch = self._submit
        if batch is None:
            # The first job of this loop turn: the batch goes to the threads at the end of the
            # next turn, with the jobs submitted by the coroutines this turn wakes up.
            batch = self._submit = collections.deque()
            self._loop.call_soon(self._next_turn)
        batch.append((contextvars.copy_context(), fn, args, future))
        return future

    def _next_turn(self) -> None:
        assert self._loop is not None
        self._loop.call_soon(self._hand_off)

    def _hand_off(self) -> None:
        batch, self._submit = self._submit, None
        if not batch:
            return
        handed = (batch, _monotonic() + self.spread_after)
        self._work.put(handed)
        if len(batch) > 1:
            assert self._loop is not None
            self._loop.call_later(self.spread_after, self._spread, handed)

    def _spread(self, handed: _Handed) -> None:
        """``spread_after`` has passed: report the results so far, and if the batch is still
        not taken completely (a job is slow) let idle threads help with the rest."""
        self._drain()
        for _ in range(min(len(handed[0]), self._idle)):
            self._work.put(handed)

    def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for _ in range(self.size):
            self._add_thread()

    def _add_thread(self) -> None:
        # Daemon threads: a job still running after the shutdown timeout must not keep the
        # process alive; its payload is already back in the queue.
        i = len(self._threads)
        thread = threading.Thread(target=self._serve, name=f"{self.name}-{i}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _serve(self) -> None:
        done = self._done
        while True:
            with self._idle_lock:
                self._idle += 1
            handed = self._work.get()
            with self._idle_lock:
                self._idle -= 1
            if handed is None:
                return
            batch, report_after = handed
            while True:
                try:
                    context, fn, args, future = batch.popleft()
                except IndexError:
                    break
                if future.cancelled():
                    continue  # its job was cancelled (shutdown) before it started
                try:
                    result = context.run(fn, *args)
                    outcome: tuple[asyncio.Future[Any], bool, Any] = (future, True, result)
                except BaseException as exc:
                    outcome = (future, False, exc)
                done.append(outcome)
                # Short jobs are reported together when the batch is done (one loop wake-up);
                # once the batch is slow (past spread_after), every result at once.
                late = _monotonic() > report_after
                if late and not self._drain_pending and not self._schedule_drain():
                    return
            if done and not self._drain_pending and not self._schedule_drain():
                return

    def _schedule_drain(self) -> bool:
        """Have the loop drain the results (from a pool thread); False if the loop is closed."""
        self._drain_pending = True
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(self._drain)
        except RuntimeError:
            return False  # the loop is closed: nobody waits for the result any more
        return True

    def _drain(self) -> None:
        # Reset first: a thread finishing after this point schedules another drain.
        self._drain_pending = False
        done = self._done
        while done:
            future, ok, value = done.popleft()
            if future.cancelled():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def grow(self, extra: int) -> None:
        """Add ``extra`` threads (a queue was added to a running worker)."""
        self.size += extra
        if self._loop is None:
            return  # threads start with the first job
        for _ in range(extra):
            self._add_thread()

    def shutdown(self) -> None:
        """Ask every thread to stop after its current job (does not wait)."""
        for _ in self._threads:
            self._work.put(None)
