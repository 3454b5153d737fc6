"""verk-compat: Python jobs on Ruby Sidekiq's Redis wire format."""

from __future__ import annotations

from verk_compat._version import __version__
from verk_compat.app import App
from verk_compat.client.async_client import AsyncClient
from verk_compat.client.client import Client
from verk_compat.codec.job import PROFILES, Job, Profile, check_args, now
from verk_compat.errors import (
    InvalidJob,
    JobTimeout,
    NotReplicated,
    RedisUnavailable,
    ScriptError,
    UnknownJob,
    VerkError,
)
from verk_compat.keys import Keys, ResqueKeys
from verk_compat.worker.launcher import Worker

__all__ = [
    "PROFILES",
    "App",
    "AsyncClient",
    "Client",
    "InvalidJob",
    "Job",
    "JobTimeout",
    "Keys",
    "NotReplicated",
    "Profile",
    "RedisUnavailable",
    "ResqueKeys",
    "ScriptError",
    "UnknownJob",
    "VerkError",
    "Worker",
    "__version__",
    "check_args",
    "now",
]
