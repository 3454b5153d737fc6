"""The job codec: Sidekiq 6.x-8.x payloads (and Resque and Verk 1.x ones) to and from bytes.

Touches no Redis key. :class:`Job` is the one type every producer and consumer goes through;
the private modules hold its schema (``_schema``), field checks (``_fields``) and write side
(``_encode``); ``ruby_json`` writes JSON exactly as Ruby's ``JSON.generate`` does,
``timestamps`` reads and writes both wire time formats, ``backtrace`` Sidekiq's compressed
backtraces, and ``verk`` Verk 1.x's payload shape.
"""

from __future__ import annotations

from verk_compat.codec.job import PROFILES, Job, Profile, check_args, now
from verk_compat.errors import InvalidJob

__all__ = ["PROFILES", "InvalidJob", "Job", "Profile", "check_args", "now"]
