"""Redis replies as the migration reads them: bytes kept as bytes, text decoded leniently.

The migration's clients never decode responses (payloads move byte for byte), so the few
places that need text (scores, run ids, samples) decode here. Keys touched: none.
"""

from __future__ import annotations

from typing import Any

__all__ = ["as_bytes", "key_text", "text"]


def text(data: bytes | str) -> str:
    """A reply as text; undecodable bytes become U+FFFD rather than an error mid-migration."""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


def key_text(data: bytes | str) -> str:
    """A key name as text that encodes back to the same bytes (``surrogateescape``), so a
    name that is not UTF-8 can still be read, listed and moved."""
    return data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data


def as_bytes(data: Any) -> bytes:
    """A reply element as bytes."""
    return data if isinstance(data, bytes) else str(data).encode()
