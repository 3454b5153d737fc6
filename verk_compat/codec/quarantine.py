"""The quarantine wrapper: a payload nobody could convert or read, set aside with the reason.

Written (RPUSH) to ``verk:quarantine:<source>`` by the migrations and by the worker's poller
(:mod:`verk_compat.keys`). Keys touched: none.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import msgspec

__all__ = ["quarantine_entry"]


def quarantine_entry(raw: bytes, source_key: str, reason: str, score: str | None = None) -> bytes:
    """The quarantine wrapper ``{"reason","source_key","raw"[,"score"],"quarantined_at"}``.

    ``raw`` is the source element as a JSON string, exactly; bytes that are not UTF-8 are kept
    as ``raw_base64`` instead.
    """
    entry: dict[str, Any] = {"reason": reason, "source_key": source_key}
    try:
        entry["raw"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        entry["raw_base64"] = base64.b64encode(raw).decode("ascii")
    if score is not None:
        entry["score"] = score
    entry["quarantined_at"] = time.time()
    return msgspec.json.encode(entry)
