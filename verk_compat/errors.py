"""Every public exception verk-compat raises; all derive from :class:`VerkError`."""

from __future__ import annotations

__all__ = [
    "InvalidJob",
    "JobTimeout",
    "NotReplicated",
    "RedisUnavailable",
    "ScriptError",
    "UnknownJob",
    "UnsupportedArgument",
    "VerkError",
]


class VerkError(Exception):
    """Base class of every error verk-compat raises on purpose."""


class InvalidJob(VerkError, ValueError):
    """A payload that is not a valid Sidekiq/Resque job; ``raw`` keeps its exact bytes."""

    def __init__(self, message: str, raw: bytes | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.raw = raw
        self.field = field


class JobTimeout(VerkError):
    """A job ran longer than its timeout (``@app.job(..., timeout=)`` or the worker's
    ``job_timeout``); ``seconds`` is that timeout.

    Its ``error_class`` on the wire is ``verk_compat.JobTimeout``; it follows the retry rules
    like any failure. An ``async`` job is cancelled; a sync job's thread cannot be stopped, so
    it keeps running (and keeps its slot) until it returns, its outcome ignored.
    """

    def __init__(self, seconds: float, message: str | None = None) -> None:
        super().__init__(message or f"job ran longer than its {seconds:g}s timeout")
        self.seconds = seconds
        #: Where the job was when its time ran out (innermost frame first, Ruby's
        #: ``file:line:in `func'`` shape): its logged and stored backtrace. Empty if unknown.
        self.where: list[str] = []


class RedisUnavailable(VerkError, ConnectionError):
    """Redis could not be reached; the message names the URL (without its password)."""


class NotReplicated(VerkError):
    """A push ran on the primary, but fewer replicas than asked confirmed it in time.

    Raised by a client made with ``wait_replicas`` (Redis ``WAIT``). The jobs in ``jids`` ARE
    queued on the primary; only a failover before they replicate could lose them. Pushing them
    again could run them twice, so the caller decides (see docs/RELIABILITY.md).
    """

    def __init__(self, message: str, jids: list[str], acked: int, wanted: int) -> None:
        super().__init__(message)
        self.jids = jids
        self.acked = acked
        self.wanted = wanted


class ScriptError(VerkError):
    """A Lua script is missing, has a malformed header, or its version is not the pinned one."""


class UnknownJob(VerkError):
    """A payload names a class (or method) this process has not registered.

    Its ``error_class`` on the wire is ``verk_compat.UnknownJob`` (the analogue of Ruby's
    ``NameError: uninitialized constant``); it follows Sidekiq's *global* retry path.
    """


# Shown as ``verk_compat.UnknownJob`` (and ``.JobTimeout``) in error_class, not their module.
UnknownJob.__module__ = "verk_compat"
JobTimeout.__module__ = "verk_compat"


class UnsupportedArgument(VerkError, ValueError):
    """A job argument with no counterpart on the other side (an ActiveJob custom serializer, a
    Python object Rails could not read); the message names the value's path."""
