"""A bounded thread pool for sync jobs: one hand-off per batch of jobs, not one per job.

``loop.run_in_executor`` costs a queue hand-off (a thread wake-up) per job and a self-pipe write
(a syscall and a loop wake-up) per result. Here the jobs submitted during one loop turn go to
the threads as one batch: one thread is woken and runs them one after another, and if the batch
is not finished shortly after (``spread_after``, a job is slow) it is offered to the idle
threads too, which take the remaining jobs one at a time, so slow jobs still run in parallel and
at most ``size`` jobs ever run at once. Finished jobs go on a deque and one drain is scheduled
on the loop only if none is pending, so a burst of short sync jobs completes with a handful of
wake-ups.

Keys touched: none.
"""

from __future__ import annotations

import asyncio
import collections
import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["SyncPool"]

_Work = tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future[Any]]
_Batch = collections.deque[_Work]


class SyncPool:
    """``size`` daemon threads running plain functions for coroutines on one loop."""

    def __init__(self, size: int, name: str = "verk-job", *, spread_after: float = 0.002) -> None:
        self.size = max(1, size)
        self.name = name
        self.spread_after = spread_after
        self._work: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()
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
            # The first job of this loop turn: the batch goes to the threads at the turn's end.
            batch = self._submit = collections.deque()
            self._loop.call_soon(self._hand_off)
        batch.append((fn, args, future))
        return future

    def _hand_off(self) -> None:
        batch, self._submit = self._submit, None
        if not batch:
            return
        self._work.put(batch)
        if len(batch) > 1:
            assert self._loop is not None
            self._loop.call_later(self.spread_after, self._spread, batch)

    def _spread(self, batch: _Batch) -> None:
        """The batch is still not taken completely: let idle threads help with the rest."""
        for _ in range(min(len(batch), self._idle)):
            self._work.put(batch)

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
            batch = self._work.get()
            with self._idle_lock:
                self._idle -= 1
            if batch is None:
                return
            while True:
                try:
                    fn, args, future = batch.popleft()
                except IndexError:
                    break
                if future.cancelled():
                    continue  # its job was cancelled (shutdown) before it started
                try:
                    outcome: tuple[asyncio.Future[Any], bool, Any] = (future, True, fn(*args))
                except BaseException as exc:
                    outcome = (future, False, exc)
                done.append(outcome)
                if not self._drain_pending:
                    self._drain_pending = True
                    assert self._loop is not None
                    try:
                        self._loop.call_soon_threadsafe(self._drain)
                    except RuntimeError:
                        return  # the loop is closed: nobody waits for the result any more

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

    @property
    def busy_threads(self) -> int:
        """Threads alive (a job past the shutdown timeout keeps its thread alive)."""
        return sum(t.is_alive() for t in self._threads)

    def shutdown(self) -> None:
        """Ask every thread to stop after its current job (does not wait)."""
        for _ in self._threads:
            self._work.put(None)
