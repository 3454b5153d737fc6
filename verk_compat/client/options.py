"""The job options every client method takes, and the one way extra payload keys get in.

Sidekiq's ``Client.push`` takes a hash; a Python keyword argument is easier to misspell or
misuse (``enqueue("X", [], to="bob")`` once wrote ``"to"`` as a payload key, and the job then
failed with a TypeError, 25 times). So the clients take the Sidekiq options they know as
keywords (``queue``, ``retry``, ``jid`` and :class:`JobOptions`), refuse any other keyword with
a ``TypeError``, and take other payload keys only through ``extra={...}``, which may not name a
key Sidekiq itself gives a meaning to.

Keys touched: none (pure).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from verk_compat.codec._schema import ALL_KEYS
from verk_compat.errors import InvalidJob

__all__ = ["OPTION_NAMES", "JobOptions", "options_of"]


class JobOptions(TypedDict, total=False):
    """Job options the clients take as keywords, besides ``queue``, ``retry`` and ``jid``."""

    #: Float epoch seconds (Sidekiq's ``created_at``); now by default.
    created_at: float
    #: Keep the backtrace of a failure: ``True`` or the number of lines.
    backtrace: bool | int
    #: The queue retries go to (the job's own by default).
    retry_queue: str
    #: ``False``: a job whose retries are exhausted is dropped, not kept in the dead set.
    dead: bool
    #: Retry for at most this many seconds after the first failure (Sidekiq 7.1.3+).
    retry_for: int
    #: Tags shown by Sidekiq Web.
    tags: list[Any]
    #: The ActiveJob class a wrapper job runs.
    wrapped: str
    #: Sidekiq Pro/Enterprise batch id.
    bid: str
    #: This project's extension: the public method of a registered class to call.
    function: str


#: The keywords of :class:`JobOptions`.
OPTION_NAMES = frozenset(JobOptions.__optional_keys__)
_NAMED = ("queue", "retry", "jid", *sorted(OPTION_NAMES))
# Keys with a meaning to Sidekiq (or a keyword of their own here): never an extra key.
_RESERVED = frozenset((*ALL_KEYS, *_NAMED, "at", "args", "class"))


def options_of(
    queue: str,
    retry: bool | int,
    jid: str | None,
    options: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
    method: str = "enqueue",
) -> dict[str, Any]:
    """The keyword arguments of :meth:`Job.new` for one call of ``method`` of a client.

    Raises:
        TypeError: a keyword that is not a job option (or an ``extra`` that is not a mapping
            of string keys).
        InvalidJob: an ``extra`` key that Sidekiq gives a meaning to, or ``at`` anywhere.
    """
    if "at" in options or (extra is not None and "at" in extra):
        # An "at" left in a payload makes Sidekiq re-schedule it forever (docs/wire.md §4.3).
        raise InvalidJob("at is not a payload key: use schedule(..., at) or enqueue_in()")
    unknown = [name for name in options if name not in OPTION_NAMES]
    if unknown:
        raise TypeError(_unknown_message(method, unknown))
    out = {"queue": queue, "retry": retry, "jid": jid, **options}
    if extra:
        out.update(_checked_extra(extra))
    return out


def _unknown_message(method: str, unknown: list[str]) -> str:
    names = ", ".join(repr(name) for name in unknown)
    return (
        f"{method}() got unexpected keyword argument(s) {names}: job options are "
        f"{', '.join(_NAMED)}; job arguments go in the args list, other payload keys in "
        "extra={...}"
    )


def _checked_extra(extra: Mapping[str, Any]) -> Mapping[str, Any]:
    if not isinstance(extra, Mapping):
        raise TypeError(f"extra must be a mapping of payload keys, not {type(extra).__name__}")
    for key in extra:
        if type(key) is not str:
            raise TypeError(f"extra keys must be strings, not {type(key).__name__} ({key!r})")
        if key in _RESERVED:
            hint = f"pass {key}=... instead" if key in _NAMED else "enqueue sets it itself"
            raise InvalidJob(f"extra key {key!r} is a Sidekiq payload key: {hint}")
    return extra
