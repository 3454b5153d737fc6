"""Sidekiq's ``error_backtrace`` encoding: ``base64(zlib(JSON array of lines))``.

Sidekiq <= 7.2.0 wrote RFC 2045 base64 (a newline every 60 characters); 7.2.1+ writes strict
base64, which every reader accepts, so that is what :func:`encode_backtrace` writes (docs/wire.md
§4.6). Sidekiq 6.x also stored a raw JSON array; :func:`decode_backtrace` reads all three.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Sequence

import msgspec

from verk_compat.errors import InvalidJob

__all__ = ["decode_backtrace", "encode_backtrace"]

_FIELD = "error_backtrace"
_LINES = msgspec.json.Decoder(list[str])
_encode = msgspec.json.encode


def encode_backtrace(lines: Sequence[str]) -> str:
    """Encode backtrace lines as Sidekiq 7.2.1+ does (strict base64, no newlines).

    Args:
        lines: The backtrace lines, most recent call first.

    Returns:
        The ``error_backtrace`` value.
    """
    data = zlib.compress(_encode(list(lines)))
    return base64.b64encode(data).decode("ascii")


def _error(detail: str) -> InvalidJob:
    return InvalidJob(f"{_FIELD}: {detail}", field=_FIELD)


def _lines(text: bytes | str) -> list[str]:
    try:
        return _LINES.decode(text)
    except msgspec.DecodeError as exc:
        raise _error(f"not a JSON array of strings: {exc}") from None


def decode_backtrace(value: str | list[str]) -> list[str]:
    """Decode an ``error_backtrace`` value of any Sidekiq version.

    Args:
        value: Strict or newline-wrapped base64 of zlib-compressed JSON, a JSON array as text,
            or an already decoded list of strings.

    Returns:
        The backtrace lines.

    Raises:
        InvalidJob: ``value`` is none of these (``field="error_backtrace"``).
    """
    if isinstance(value, list):
        if not all(isinstance(line, str) for line in value):
            raise _error("a list of backtrace lines must hold only strings")
        return list(value)
    if not isinstance(value, str):
        raise _error(f"expected a string or a list, got {type(value).__name__}")
    text = value.strip()
    if text.startswith("["):
        return _lines(text)
    compact = "".join(text.split())
    try:
        data = base64.b64decode(compact, validate=True)
        return _lines(zlib.decompress(data))
    except (binascii.Error, ValueError, zlib.error) as exc:
        if isinstance(exc, InvalidJob):
            raise
        raise _error(f"not base64 of zlib-compressed JSON: {exc}") from None
