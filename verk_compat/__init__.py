"""verk-compat: Python jobs on Ruby Sidekiq's Redis wire format."""

from __future__ import annotations

from .codec import PROFILES, Job, Profile, check_args, now
from .errors import InvalidJob, RedisUnavailable, ScriptError, VerkError
from .keys import Keys, ResqueKeys

__version__ = "0.1.0"

__all__ = [
    "PROFILES",
    "InvalidJob",
    "Job",
    "Keys",
    "Profile",
    "RedisUnavailable",
    "ResqueKeys",
    "ScriptError",
    "VerkError",
    "__version__",
    "check_args",
    "now",
]
