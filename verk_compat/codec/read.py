"""One reader for every job payload found on a Redis that Verk 1.x and Sidekiq share.

Keys touched: none.
"""

from __future__ import annotations

from verk_compat.codec.job import Job
from verk_compat.codec.verk import VerkJob, is_verk

__all__ = ["decode_any"]


def decode_any(raw: bytes | str) -> Job | VerkJob:
    """Read a Verk or a Sidekiq payload.

    Returns:
        A :class:`~verk_compat.codec.verk.VerkJob` for a Verk payload (``args`` a JSON string),
        else a Sidekiq :class:`~verk_compat.codec.job.Job` (cjson's ``{}`` read as ``[]``).
        Either's ``encode()`` gives back the exact input bytes while nothing changed (a Sidekiq
        job under its own profile; one with cjson's ``{}`` is written back with ``[]``).

    Raises:
        InvalidJob: neither.
    """
    data = raw.encode() if isinstance(raw, str) else bytes(raw)
    if is_verk(data):
        return VerkJob.decode(data)
    return Job.decode(data)
