"""Rails ActiveJob jobs run by their Rails class name.

A payload whose ``class`` is one of ActiveJob's Sidekiq wrappers
(:data:`~verk_compat.codec.activejob.WRAPPERS`) and whose wrapper name is not itself registered
runs the job registered under the Rails class: ``args[0]["job_class"]`` (what Rails itself
executes), else the payload's ``wrapped``. The handler is called with the job's ``arguments``
decoded by :mod:`verk_compat.codec.activejob` (keyword arguments as ``**kwargs``), and
:func:`current_job` returns the job's :class:`ActiveJobInfo` (job_id, executions, locale,
timezone, jid, ...) while it runs.

Decoding happens inside the job's run, so an argument with no Python form
(:class:`~verk_compat.errors.UnsupportedArgument`, naming the value's path) fails the job and it
follows the retry rules like any other failure. Pure code; touches no Redis key.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from verk_compat.codec.activejob import WRAPPERS, deserialize, display_class, rails_class
from verk_compat.codec.job import Job
from verk_compat.errors import UnknownJob, UnsupportedArgument
from verk_compat.worker.app import App, Resolved

__all__ = ["ActiveJobInfo", "current_job", "display_class", "rails_class", "resolve_active_job"]


@dataclass(frozen=True, slots=True)
class ActiveJobInfo:
    """One ActiveJob run's metadata, from the wrapper payload and its serialized job."""

    job_class: str
    job_id: str | None
    jid: str
    queue_name: str | None
    priority: int | None
    #: As Rails' ``perform`` sees it: the stored count plus this run (1 on a first run).
    executions: int
    locale: str | None
    timezone: str | None
    enqueued_at: str | None
    #: The serialized job as Rails wrote it (``arguments`` still encoded).
    job_data: Mapping[str, Any] = field(repr=False)


_CURRENT: ContextVar[ActiveJobInfo | None] = ContextVar("verk_compat_active_job", default=None)


def current_job() -> ActiveJobInfo:
    """The ActiveJob being run by this handler call.

    Raises:
        LookupError: called outside an ActiveJob handler.
    """
    info = _CURRENT.get()
    if info is None:
        raise LookupError("current_job() is only set while an ActiveJob handler runs")
    return info


def is_active_job(app: App, job: Job) -> bool:
    """Whether ``job`` is an ActiveJob wrapper payload that runs by its Rails class."""
    return job.class_name in WRAPPERS and app.spec(job.class_name) is None


def resolve_active_job(app: App, job: Job) -> Resolved:
    """A :class:`Resolved` whose ``call(job_data)`` decodes and runs the Rails-named handler.

    Raises:
        UnknownJob: no Rails class in the payload, or none registered under it.
    """
    name = rails_class(job)
    if name is None:
        raise UnknownJob(f"{job.class_name} payload names no job_class or wrapped class")
    target = app.resolve(name)
    jid = str(job.jid)
    if target.is_async:

        async def run_async(job_data: Any) -> Any:
            info, args, kwargs = decode(name, jid, job_data)
            token = _CURRENT.set(info)
            try:
                return await target.call(*args, **kwargs)
            finally:
                _CURRENT.reset(token)

        return Resolved(target.spec, run_async, True)
    return Resolved(target.spec, functools.partial(_run_sync, target.call, name, jid), False)


def _run_sync(call: Callable[..., Any], name: str, jid: str, job_data: Any) -> Any:
    info, args, kwargs = decode(name, jid, job_data)
    token = _CURRENT.set(info)
    try:
        return call(*args, **kwargs)
    finally:
        _CURRENT.reset(token)


def decode(name: str, jid: str, job_data: Any) -> tuple[ActiveJobInfo, list[Any], dict[str, Any]]:
    """The metadata and the decoded ``(args, kwargs)`` of one serialized ActiveJob.

    Raises:
        UnsupportedArgument: the job data is not a hash, or an argument has no Python form.
    """
    if not isinstance(job_data, dict):
        raise UnsupportedArgument(f"{name}: the wrapper's argument is not a serialized job hash")
    arguments = job_data.get("arguments")
    if not isinstance(arguments, list):  # missing: an error, as in Rails
        raise UnsupportedArgument(f"{name}: arguments: not a JSON array")
    args, kwargs = deserialize(arguments)
    executions = job_data.get("executions")
    priority = job_data.get("priority")
    info = ActiveJobInfo(
        job_class=name,
        job_id=_text(job_data.get("job_id")),
        jid=jid,
        queue_name=_text(job_data.get("queue_name")),
        priority=priority if isinstance(priority, int) else None,
        executions=(executions if isinstance(executions, int) else 0) + 1,
        locale=_text(job_data.get("locale")),
        timezone=_text(job_data.get("timezone")),
        enqueued_at=_text(job_data.get("enqueued_at")),
        job_data=job_data,
    )
    return info, args, kwargs


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
