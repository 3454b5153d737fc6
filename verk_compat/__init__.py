"""verk-compat: Python jobs on Ruby Sidekiq's Redis wire format."""

from __future__ import annotations

from ._version import __version__
from .aclient import AsyncClient
from .app import App
from .client import Client
from .codec import PROFILES, Job, Profile, check_args, now
from .errors import InvalidJob, RedisUnavailable, ScriptError, VerkError
from .keys import Keys, ResqueKeys
from .worker import Worker

__all__ = [
    "PROFILES",
    "App",
    "AsyncClient",
    "Client",
    "InvalidJob",
    "Job",
    "Keys",
    "Profile",
    "RedisUnavailable",
    "ResqueKeys",
    "ScriptError",
    "VerkError",
    "Worker",
    "__version__",
    "check_args",
    "now",
]
