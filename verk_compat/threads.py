"""A bounded thread pool for sync jobs that wakes the event loop once per batch, not per job.

``loop.run_in_executor`` costs a self-pipe write (a syscall and a loop wake-up) for every job.
Here worker threads put finished jobs on a deque and schedule one drain on the loop only if none
is pending, so a burst of short sync jobs completes with a handful of wake-ups.

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


class SyncPool:
    """``size`` daemon threads running plain functions for coroutines on one loop."""

    def __init__(self, size: int, name: str = "verk-job") -> None:
        self.size = max(1, size)
        self.name = name
        self._work: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._done: collections.deque[tuple[asyncio.Future[Any], bool, Any]] = collections.deque()
        self._drain_pending = False
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def run(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Run ``fn(*args)`` in a pool thread; the future resolves on the calling loop."""
        if self._loop is None:
            self._start()
        assert self._loop is not None
        future: asyncio.Future[Any] = self._loop.create_future()
        self._work.put((fn, args, future))
        return future

    def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for i in range(self.size):
            # Daemon threads: a job still running after the shutdown timeout must not keep the
            # process alive; its payload is already back in the queue.
            thread = threading.Thread(target=self._serve, name=f"{self.name}-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self) -> None:
        while (item := self._work.get()) is not None:
            fn, args, future = item
            try:
                outcome: tuple[asyncio.Future[Any], bool, Any] = (future, True, fn(*args))
            except BaseException as exc:
                outcome = (future, False, exc)
            self._done.append(outcome)
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
        while self._done:
            future, ok, value = self._done.popleft()
            if future.cancelled():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    @property
    def busy_threads(self) -> int:
        """Threads alive (a job past the shutdown timeout keeps its thread alive)."""
        return sum(t.is_alive() for t in self._threads)

    def shutdown(self) -> None:
        """Ask every thread to stop after its current job (does not wait)."""
        for _ in self._threads:
            self._work.put(None)
