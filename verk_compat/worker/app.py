"""The job registry: Sidekiq class names mapped to Python callables, and nothing else runs.

``@app.job("HardWorker")`` registers a function (``def`` or ``async def``) or a class with a
``perform`` method. A payload may name another public method of a registered class with a
``function`` key: this project's own extension (no Verk release has such a key). A payload
naming anything that was not registered (``os.system``, a Ruby class this process does not know)
resolves to :class:`UnknownJob`: nothing is ever imported or looked up from a payload.

``@app.cron``-style periodic jobs are kept here too (:meth:`App.cron`); the worker's cron poller
saves them. Keys touched: none.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, ParamSpec, Protocol, TypeVar, overload

from verk_compat.codec.cron_entry import CronEntry
from verk_compat.errors import UnknownJob
from verk_compat.worker.events import EventManager
from verk_compat.worker.job_ref import Enqueuer, JobRef
from verk_compat.worker.lifecycle import Hook, ProcessContext, lifespan
from verk_compat.worker.middleware import Middleware
from verk_compat.worker.retry import RetryIn
from verk_compat.worker.timeouts import check_timeout

__all__ = ["App", "JobSpec", "Resolved", "UnknownJob"]

T = TypeVar("T")
C = TypeVar("C", bound=type)
P = ParamSpec("P")
R = TypeVar("R")


class JobDecorator(Protocol):
    """``@app.job(...)``: a class comes back as it is, a function as a :class:`JobRef`."""

    @overload
    def __call__(self, target: C) -> C: ...  # type: ignore[overload-overlap]
    @overload
    def __call__(self, target: Callable[P, R]) -> JobRef[P, R]: ...


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One registered job: the target and its Sidekiq-style options."""

    name: str
    target: Any
    is_class: bool
    retry: bool | int = True
    retry_in: RetryIn | None = None
    #: Seconds the job may run (None: the worker's ``job_timeout``; 0: no timeout).
    timeout: float | None = None
    #: Sidekiq's ``sidekiq_options``: the handle writes them at push time (``queue`` is the
    #: default queue), the worker applies them to payloads that leave them open.
    queue: str | None = None
    retry_queue: str | None = None
    dead: bool | None = None
    backtrace: bool | int | None = None


@dataclass(frozen=True, slots=True)
class Resolved:
    """A callable ready to run a payload's args, and whether it must be awaited."""

    spec: JobSpec
    call: Callable[..., Any]
    is_async: bool


@dataclass
class App:
    """Registry of jobs, event handlers and server middleware for one worker."""

    name: str = "verk-compat"
    events: EventManager = field(default_factory=EventManager)
    middleware: list[Middleware] = field(default_factory=list)
    _jobs: dict[str, JobSpec] = field(default_factory=dict, repr=False)
    _async_cache: dict[tuple[str, str], bool] = field(default_factory=dict, repr=False)
    #: Periodic jobs defined in code (:meth:`cron`); the worker saves them to Redis at start.
    cron_entries: dict[str, CronEntry] = field(default_factory=dict)
    #: Lifecycle hooks (:mod:`verk_compat.worker.lifecycle`) and the per-process context.
    startup_hooks: list[Hook] = field(default_factory=list)
    shutdown_hooks: list[Hook] = field(default_factory=list)
    context: ProcessContext = field(default_factory=ProcessContext)
    #: The client typed job handles push through (``hard_worker.enqueue(...)``).
    client: Enqueuer | None = field(default=None, repr=False)

    def job(
        self,
        name: str | None = None,
        *,
        retry: bool | int = True,
        retry_in: RetryIn | None = None,
        timeout: float | None = None,
        queue: str | None = None,
        retry_queue: str | None = None,
        dead: bool | None = None,
        backtrace: bool | int | None = None,
    ) -> JobDecorator:
        """Decorator registering a function or class under Sidekiq class ``name``.

        ``name`` defaults to the object's ``__qualname__``. ``retry``, ``retry_queue``, ``dead``
        and ``backtrace`` are Sidekiq's ``sidekiq_options``: the worker applies them to a payload
        that leaves them open (``retry: true`` or no key; see
        :func:`verk_compat.worker.retry.apply_registered`). ``queue`` is the default queue of
        typed pushes. ``retry_in(count, exc, job)`` is Sidekiq's ``sidekiq_retry_in``.
        ``timeout`` (seconds) overrides the worker's ``job_timeout`` (0: no timeout): past it
        the job fails with :class:`~verk_compat.errors.JobTimeout`
        (:mod:`verk_compat.worker.timeouts`).
        A function comes back as a :class:`~verk_compat.worker.job_ref.JobRef` (still callable
        as the function, plus ``enqueue``/``enqueue_in``/``schedule``/``enqueue_many``).
        """

        def register(target: Any) -> Any:
            default = str(getattr(target, "__qualname__", ""))
            self.register(
                name or default,
                target,
                retry,
                retry_in,
                timeout,
                queue=queue,
                retry_queue=retry_queue,
                dead=dead,
                backtrace=backtrace,
            )
            if inspect.isclass(target) or isinstance(target, JobRef):
                return target
            return JobRef(self, name or default, target)

        return register

    def register(
        self,
        name: str,
        target: Any,
        retry: bool | int = True,
        retry_in: RetryIn | None = None,
        timeout: float | None = None,
        *,
        queue: str | None = None,
        retry_queue: str | None = None,
        dead: bool | None = None,
        backtrace: bool | int | None = None,
    ) -> None:
        """Register ``target`` (function or class with ``perform``) under ``name``."""
        _check_options(retry, queue, retry_queue, dead, backtrace)
        if isinstance(target, JobRef):  # a handle of another registration: the function itself
            target = target.fn
        if not name:
            raise ValueError("a job needs a non-empty Sidekiq class name")
        timeout = check_timeout(timeout, f"job {name!r}: timeout")
        is_class = inspect.isclass(target)
        if is_class and not callable(getattr(target, "perform", None)):
            raise TypeError(f"job class {target!r} has no perform method")
        if not is_class and not callable(target):
            raise TypeError(f"job {name!r} is neither a class nor a callable")
        if name in self._jobs and self._jobs[name].target is not target:
            raise ValueError(f"job name {name!r} is already registered")
        self._jobs[name] = JobSpec(
            name,
            target,
            is_class,
            retry,
            retry_in,
            timeout,
            queue=queue,
            retry_queue=retry_queue,
            dead=dead,
            backtrace=backtrace,
        )

    @property
    def names(self) -> list[str]:
        """Registered class names."""
        return sorted(self._jobs)

    def spec(self, class_name: str) -> JobSpec | None:
        """The registration of ``class_name``, or None."""
        return self._jobs.get(class_name)

    def resolve(self, class_name: str, function: str | None = None) -> Resolved:
        """The callable for a payload's ``class`` (and this project's optional ``function``).

        Raises :class:`UnknownJob` for anything not registered, and for a ``function`` that is
        private or not a method of the registered class.
        """
        spec = self._jobs.get(class_name)
        if spec is None:
            raise UnknownJob(f"no job registered as {class_name!r}")
        method = function or "perform"
        if not spec.is_class:
            if method != "perform":
                raise UnknownJob(f"job {class_name!r} is a function; it has no {method!r}")
            call = spec.target
        else:
            if method.startswith("_") or not callable(getattr(spec.target, method, None)):
                raise UnknownJob(f"job class {class_name!r} has no public method {method!r}")
            call = getattr(spec.target(), method)
        key = (class_name, method)
        is_async = self._async_cache.get(key)
        if is_async is None:
            is_async = inspect.iscoroutinefunction(call)
            self._async_cache[key] = is_async
        return Resolved(spec, call, is_async)

    def cron(
        self,
        name: str,
        cron: str,
        class_name: str,
        args: list[Any] | tuple[Any, ...] = (),
        *,
        queue: str = "default",
        description: str = "",
        date_as_argument: bool = False,
        **options: Any,
    ) -> CronEntry:
        """Define periodic job ``name``: push ``class_name(*args)`` at each tick of ``cron``
        (sidekiq-cron syntax), stored as sidekiq-cron stores it; ``options`` are payload keys.

        Raises:
            verk_compat.codec.cron_entry.CronEntryError: a bad name, cron string or argument.
        """
        entry = CronEntry.define(
            name,
            cron,
            class_name,
            args,
            queue=queue,
            description=description,
            date_as_argument=date_as_argument,
            **options,
        )
        self.add_cron(entry)
        return entry

    def add_cron(self, *entries: CronEntry) -> None:
        """Add entries (from :func:`verk_compat.worker.cron.load_schedule`, say)."""
        for entry in entries:
            if entry.name in self.cron_entries and self.cron_entries[entry.name] != entry:
                raise ValueError(f"cron entry {entry.name!r} is already defined")
            self.cron_entries[entry.name] = entry

    def on_startup(self, hook: Hook) -> Hook:
        """Decorator: run ``hook(app.context)`` (sync or async) before the worker starts."""
        self.startup_hooks.append(hook)
        return hook

    def on_shutdown(self, hook: Hook) -> Hook:
        """Decorator: run ``hook(app.context)`` once every job has finished (reverse order)."""
        self.shutdown_hooks.append(hook)
        return hook

    def lifespan(self) -> AbstractAsyncContextManager[ProcessContext]:
        """``async with app.lifespan():`` runs the startup hooks, then the shutdown hooks (what
        the worker does around its run; handy in tests)."""
        return lifespan(self.startup_hooks, self.shutdown_hooks, self.context)


def _check_options(
    retry: object, queue: object, retry_queue: object, dead: object, backtrace: object
) -> None:
    """Refuse registered options no Sidekiq payload could carry."""
    checks = [
        ("retry", retry, type(retry) in (bool, int)),
        ("queue", queue, queue is None or (type(queue) is str and queue != "")),
        (
            "retry_queue",
            retry_queue,
            retry_queue is None or (type(retry_queue) is str and retry_queue != ""),
        ),
        ("dead", dead, dead is None or type(dead) is bool),
        ("backtrace", backtrace, backtrace is None or type(backtrace) in (bool, int)),
    ]
    for key, value, ok in checks:
        if not ok:
            raise TypeError(f"job option {key}={value!r} is not one Sidekiq can carry")
