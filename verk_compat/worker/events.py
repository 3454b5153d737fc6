"""Lifecycle events (Verk's EventManager): JobStarted, JobFinished, JobFailed, and the queue
events QueuePaused and QueueRunning (a queue stopped or (re)started fetching).

Handlers are plain callables or ``async def`` functions taking one event. A handler that raises
is logged and never breaks the worker; async handlers run as tasks so a slow one does not hold
up the job that emitted the event. With no handler registered, emitting costs one ``if``.

Keys touched: none.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from verk_compat.codec.activejob import display_class
from verk_compat.codec.job import Job

__all__ = [
    "Event",
    "EventManager",
    "JobFailed",
    "JobFinished",
    "JobStarted",
    "QueuePaused",
    "QueueRunning",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JobStarted:
    """A job is about to run."""

    job: Job
    queue: str
    started_at: float

    @property
    def class_name(self) -> str:
        """The job's class as logs name it (the Rails class of an ActiveJob wrapper)."""
        return display_class(self.job)


@dataclass(frozen=True, slots=True)
class JobFinished:
    """A job returned normally (it is acknowledged)."""

    job: Job
    queue: str
    started_at: float
    finished_at: float

    @property
    def class_name(self) -> str:
        """The job's class as logs name it (the Rails class of an ActiveJob wrapper)."""
        return display_class(self.job)


@dataclass(frozen=True, slots=True)
class JobFailed:
    """A job raised; ``job`` is the payload as fetched, ``exception`` what it raised."""

    job: Job
    queue: str
    started_at: float
    failed_at: float
    exception: BaseException

    @property
    def class_name(self) -> str:
        """The job's class as logs name it (the Rails class of an ActiveJob wrapper)."""
        return display_class(self.job)


@dataclass(frozen=True, slots=True)
class QueuePaused:
    """A queue stopped fetching (its running jobs finish); Verk's ``QueuePaused``."""

    queue: str
    at: float


@dataclass(frozen=True, slots=True)
class QueueRunning:
    """A queue started fetching: at start, when added, when resumed; Verk's ``QueueRunning``."""

    queue: str
    at: float


Event = JobStarted | JobFinished | JobFailed | QueuePaused | QueueRunning
Handler = Callable[[Any], Any]


class EventManager:
    """Delivers events to the handlers registered with :meth:`subscribe`."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    def __bool__(self) -> bool:
        return bool(self._handlers)

    def subscribe(self, handler: Handler) -> Handler:
        """Register ``handler`` (usable as a decorator)."""
        self._handlers.append(handler)
        return handler

    def emit(self, event: Event) -> None:
        """Call every handler with ``event``; errors are logged and swallowed."""
        for handler in self._handlers:
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._tasks.add(task)
                    task.add_done_callback(self._done)
            except Exception:
                log.exception("event handler %r failed on %s", handler, type(event).__name__)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("async event handler failed", exc_info=task.exception())
