"""verk-compat's exception types."""

from __future__ import annotations

__all__ = ["InvalidJob", "RedisUnavailable", "ScriptError", "VerkError"]


class VerkError(Exception):
    """Base class of every error verk-compat raises on purpose."""


class InvalidJob(VerkError, ValueError):
    """A payload that is not a valid Sidekiq/Resque job; ``raw`` keeps its exact bytes."""

    def __init__(self, message: str, raw: bytes | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.raw = raw
        self.field = field


class RedisUnavailable(VerkError, ConnectionError):
    """Redis could not be reached; the message names the URL (without its password)."""


class ScriptError(VerkError):
    """A Lua script is missing, has a malformed header, or its version is not the pinned one."""
