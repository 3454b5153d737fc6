"""What each wire profile changes, in one table (pure data; touches no Redis key).

A profile names the Sidekiq version whose readers verk-compat writes for. Everything that
differs between versions is a column of :data:`RULES`, so no other module compares profile
names. See docs/wire.md for the facts behind each column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["PROFILES", "RULES", "Profile", "Rules", "rules"]

Profile = Literal["sidekiq6", "sidekiq7", "sidekiq8"]
PROFILES: tuple[Profile, ...] = ("sidekiq6", "sidekiq7", "sidekiq8")


@dataclass(frozen=True, slots=True)
class Rules:
    """The wire differences of one profile."""

    #: Payload timestamps as integer milliseconds (Sidekiq 8) rather than float seconds.
    ms_timestamps: bool
    #: Retry jitter ``rand(10 * (count + 1))`` (Sidekiq 8) rather than ``rand(10) * (count + 1)``.
    wide_jitter: bool
    #: ``retry_for`` replaces the retry count limit (Sidekiq 8.1) rather than adding to it.
    retry_for_replaces_count: bool
    #: The running-jobs hashes written: ``<identity>:workers`` (what 6.x Web reads) and/or
    #: ``<identity>:work`` (7.0+). Sidekiq Web is no process in ``processes``, so which Web
    #: versions read cannot be seen: a profile that every version reads writes both.
    work_hashes: tuple[Literal["workers", "work"], ...]


RULES: dict[Profile, Rules] = {
    "sidekiq6": Rules(False, False, False, ("workers", "work")),
    "sidekiq7": Rules(False, False, False, ("workers", "work")),
    # Integer-ms payloads: only 8.x readers, and they read <identity>:work.
    "sidekiq8": Rules(True, True, True, ("work",)),
}
_BY_NAME: dict[str, Rules] = {name: row for name, row in RULES.items()}


def rules(profile: str) -> Rules:
    """The rules of ``profile``.

    Raises:
        ValueError: not a known profile.
    """
    found = _BY_NAME.get(profile) if isinstance(profile, str) else None
    if found is None:
        raise ValueError(f"unknown profile {profile!r}; expected one of {PROFILES}")
    return found
