"""Enqueue Rails ActiveJob jobs from Python, as Rails' Sidekiq adapter writes them.

``RailsJob(client, "MyJob").set(queue="mailers", wait=5).perform_later(1, "x", kw=2)`` is
``MyJob.set(queue: "mailers", wait: 5).perform_later(1, "x", kw: 2)``: one Sidekiq payload
``{"class": <wrapper>, "wrapped": "MyJob", "queue": ..., "args": [job_data]}`` pushed to
``queue:<q>``, or to ``schedule`` at ``now + wait`` / ``wait_until``. ``job_data`` is what
``ActiveJob::Base#serialize`` writes (``job_class``, ``job_id``, ``provider_job_id``,
``queue_name``, ``priority``, ``arguments``, ``executions``, ``exception_executions``,
``locale``, ``timezone``, ``enqueued_at``), its ``arguments`` serialized by
:func:`verk_compat.codec.activejob.serialize` (Symbols, keyword arguments, times, GlobalID).

The wrapper follows the client's profile: ``ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper``
for ``sidekiq6``/``sidekiq7`` (Rails' adapter and Sidekiq <= 7.3), ``Sidekiq::ActiveJob::Wrapper``
for ``sidekiq8``; ``set(wrapper=...)`` picks either. ``sidekiq8`` also writes what Rails 7.1+
writes: ``enqueued_at`` with nanosecond digits, and ``scheduled_at`` (older Rails ignore it).

:class:`RailsJob` uses a :class:`~verk_compat.client.client.Client`, :class:`AsyncRailsJob` an
:class:`~verk_compat.client.async_client.AsyncClient`. Keys written: those of the client's
``enqueue``/``schedule`` (``queues``, ``queue:<q>``, ``schedule``).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from verk_compat.client.planner import At, Planner
from verk_compat.codec.activejob import NEW_WRAPPER, OLD_WRAPPER, WRAPPERS, iso8601_ns, serialize
from verk_compat.codec.job import Profile, now
from verk_compat.errors import InvalidJob

__all__ = ["AsyncEnqueuer", "AsyncRailsJob", "Enqueue", "RailsJob", "SyncEnqueuer", "plan"]

Wait = float | int | _dt.timedelta


class SyncEnqueuer(Protocol):
    """What :class:`RailsJob` needs: a :class:`~verk_compat.client.client.Client` (or the
    testing ``FakeClient``); the clients take only known job options as keywords."""

    planner: Planner

    def enqueue(
        self, class_name: str, args: Any = ..., *, queue: str = ..., wrapped: str = ...
    ) -> str: ...

    def schedule(
        self, class_name: str, args: Any = ..., *, at: At, queue: str = ..., wrapped: str = ...
    ) -> str: ...


class AsyncEnqueuer(Protocol):
    """What :class:`AsyncRailsJob` needs: an :class:`~verk_compat.client.async_client.
    AsyncClient` (or the testing ``FakeAsyncClient``)."""

    planner: Planner

    async def enqueue(
        self, class_name: str, args: Any = ..., *, queue: str = ..., wrapped: str = ...
    ) -> str: ...

    async def schedule(
        self, class_name: str, args: Any = ..., *, at: At, queue: str = ..., wrapped: str = ...
    ) -> str: ...


@dataclass(frozen=True, slots=True)
class Enqueue:
    """One ActiveJob push, planned: the Sidekiq call's class, args, options and time."""

    wrapper: str
    args: list[Any]
    queue: str
    wrapped: str
    job_id: str
    #: Epoch seconds to run at (``schedule``), or None to enqueue now.
    at: float | None


def plan(
    job_class: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    profile: Profile,
    queue: str = "default",
    priority: int | None = None,
    wait: Wait | None = None,
    wait_until: _dt.datetime | float | None = None,
    locale: str = "en",
    timezone: str | None = "UTC",
    job_id: str | None = None,
    wrapper: str | None = None,
    clock: float | None = None,
) -> Enqueue:
    """The payload Rails' adapter would push for ``job_class.set(...).perform_later(...)``.

    Raises:
        InvalidJob: an empty class or queue, both ``wait`` and ``wait_until``, or a ``wrapper``
            that is not one of the two wrapper names.
        UnsupportedArgument: an argument Rails could not read back, named by its path.
    """
    if not job_class or not queue:
        raise InvalidJob("an ActiveJob needs a job class and a queue name")
    if wait is not None and wait_until is not None:
        raise InvalidJob("give wait or wait_until, not both")
    if wrapper is not None and wrapper not in WRAPPERS:
        raise InvalidJob(f"wrapper must be one of {sorted(WRAPPERS)}, not {wrapper!r}")
    stamp = now() if clock is None else clock
    at = _at(stamp, wait, wait_until)
    rails71 = profile == "sidekiq8"
    enqueued = _dt.datetime.fromtimestamp(stamp, _dt.UTC)
    job_data: dict[str, Any] = {
        "job_class": job_class,
        "job_id": job_id or str(uuid.uuid4()),
        "provider_job_id": None,
        "queue_name": queue,
        "priority": priority,
        "arguments": serialize(args, kwargs),
        "executions": 0,
        "exception_executions": {},
        "locale": locale,
        "timezone": timezone,
        "enqueued_at": iso8601_ns(enqueued) if rails71 else enqueued.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if rails71:
        scheduled = None if at is None else iso8601_ns(_dt.datetime.fromtimestamp(at, _dt.UTC))
        job_data["scheduled_at"] = scheduled
    wrapper = wrapper or (NEW_WRAPPER if rails71 else OLD_WRAPPER)
    return Enqueue(wrapper, [job_data], queue, job_class, job_data["job_id"], at)


def _at(stamp: float, wait: Wait | None, wait_until: _dt.datetime | float | None) -> float | None:
    if wait is not None:
        seconds = wait.total_seconds() if isinstance(wait, _dt.timedelta) else float(wait)
        return stamp + seconds
    if isinstance(wait_until, _dt.datetime):
        if wait_until.tzinfo is None:
            raise InvalidJob("wait_until needs an aware datetime")
        return wait_until.timestamp()
    return None if wait_until is None else float(wait_until)


@dataclass(frozen=True, slots=True)
class _Options:
    queue: str = "default"
    priority: int | None = None
    wait: Wait | None = None
    wait_until: _dt.datetime | float | None = None
    locale: str = "en"
    timezone: str | None = "UTC"
    wrapper: str | None = None


@dataclass(frozen=True, slots=True)
class RailsJob:
    """A Rails job class to enqueue through a sync :class:`Client` (returns the job_id)."""

    client: SyncEnqueuer
    job_class: str
    options: _Options = _Options()

    def set(self, **options: Any) -> RailsJob:
        """A copy with ``queue``, ``priority``, ``wait``, ``wait_until``, ``locale``,
        ``timezone`` (Rails' ``MyJob.set(...)``) or ``wrapper`` (the profile's by default) set.

        Raises:
            TypeError: an unknown option name.
        """
        return dataclasses.replace(self, options=dataclasses.replace(self.options, **options))

    def perform_later(self, *args: Any, **kwargs: Any) -> str:
        """Push the job; keyword arguments become Ruby keyword arguments."""
        p = _plan(self.job_class, self.options, self.client.planner.profile, args, kwargs)
        if p.at is None:
            self.client.enqueue(p.wrapper, p.args, queue=p.queue, wrapped=p.wrapped)
        else:
            self.client.schedule(p.wrapper, p.args, at=p.at, queue=p.queue, wrapped=p.wrapped)
        return p.job_id


@dataclass(frozen=True, slots=True)
class AsyncRailsJob:
    """A Rails job class to enqueue through an :class:`AsyncClient` (returns the job_id)."""

    client: AsyncEnqueuer
    job_class: str
    options: _Options = _Options()

    def set(self, **options: Any) -> AsyncRailsJob:
        """As :meth:`RailsJob.set`."""
        return dataclasses.replace(self, options=dataclasses.replace(self.options, **options))

    async def perform_later(self, *args: Any, **kwargs: Any) -> str:
        """Push the job; keyword arguments become Ruby keyword arguments."""
        p = _plan(self.job_class, self.options, self.client.planner.profile, args, kwargs)
        if p.at is None:
            await self.client.enqueue(p.wrapper, p.args, queue=p.queue, wrapped=p.wrapped)
        else:
            at = p.at
            await self.client.schedule(p.wrapper, p.args, at=at, queue=p.queue, wrapped=p.wrapped)
        return p.job_id


def _plan(
    job_class: str,
    options: _Options,
    profile: Profile,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Enqueue:
    return plan(
        job_class,
        args,
        kwargs,
        profile=profile,
        queue=options.queue,
        priority=options.priority,
        wait=options.wait,
        wait_until=options.wait_until,
        locale=options.locale,
        timezone=options.timezone,
        wrapper=options.wrapper,
    )
