"""The public import path ``verk_compat.app`` (the README's): :class:`App` lives in the worker."""

from __future__ import annotations

from verk_compat.errors import UnknownJob
from verk_compat.worker.app import App

__all__ = ["App", "UnknownJob"]
