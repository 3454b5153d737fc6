"""verk-compat: Python jobs on Ruby Sidekiq's Redis wire format."""

from __future__ import annotations

from .errors import InvalidJob, RedisUnavailable, ScriptError, VerkError
from .keys import Keys, ResqueKeys

__version__ = "0.1.0"

__all__ = [
    "InvalidJob",
    "Keys",
    "RedisUnavailable",
    "ResqueKeys",
    "ScriptError",
    "VerkError",
    "__version__",
]
