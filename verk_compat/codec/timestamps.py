"""Job timestamps: float seconds (Sidekiq <= 7) and integer milliseconds (Sidekiq >= 8).

A JSON float is seconds; a JSON integer is milliseconds (the Sidekiq 8 rule), except that an
integer below ``1e11`` (year 5138 in seconds, 1973 in ms) is legacy integer seconds (Verk 1.x,
hand-written payloads).
"""

from __future__ import annotations

import time

import msgspec

from verk_compat.codec.ruby_json import ruby_float

__all__ = ["MS_THRESHOLD", "fits", "now", "render", "score", "to_seconds"]

MS_THRESHOLD = 100_000_000_000


def now() -> float:
    """Return the current time as float epoch seconds (``time.time()``)."""
    return time.time()


def to_seconds(value: int | float) -> float:
    """Convert a decoded timestamp token to float epoch seconds.

    Args:
        value: The JSON number as decoded (``float`` seconds, ``int`` ms or legacy ``int`` s).

    Returns:
        Float epoch seconds.
    """
    if type(value) is float:
        return value
    if -MS_THRESHOLD < value < MS_THRESHOLD:
        return float(value)
    return value / 1000


def fits(value: int | float, ms: bool) -> bool:
    """Tell whether a decoded token is already in the target profile's unit and type.

    Args:
        value: The JSON number as decoded.
        ms: True for the ``sidekiq8`` profile (integer ms), False for float seconds.

    Returns:
        True when the original token may be written back as is.
    """
    if type(value) is float:
        return not ms
    return ms and not -MS_THRESHOLD < value < MS_THRESHOLD


def render(seconds: float, ms: bool) -> int | float | msgspec.Raw:
    """Produce the value to encode for float epoch ``seconds``.

    Args:
        seconds: Float epoch seconds.
        ms: True for integer milliseconds (``sidekiq8``), False for float seconds.

    Returns:
        An ``int`` (ms), a ``float`` msgspec writes like Ruby, or a ``Raw`` Ruby float token.
    """
    if ms:
        return round(seconds * 1000)
    if 1e-4 <= abs(seconds) < 1e15 or seconds == 0:  # msgspec writes these as Ruby does
        return seconds
    return msgspec.Raw(ruby_float(seconds).encode())


def score(seconds: float) -> str:
    """A sorted-set score (or a heartbeat ``beat``) as Sidekiq sends it: the shortest decimal
    string of the float (Ruby's ``Float#to_s`` round-trips the same value)."""
    return repr(float(seconds))
