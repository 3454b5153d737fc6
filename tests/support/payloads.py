"""Helpers shared by the client and interop tests: type-exact comparison, reading pushes."""

from __future__ import annotations

import json
from typing import Any

import redis

from tests.support.replies import zscored


def same(a: Any, b: Any, path: str = "$") -> None:
    """Assert ``a == b`` with types compared too: int, float and bool are distinct, and floats
    are compared by ``repr`` (so ``-0.0`` differs from ``0.0``)."""
    assert type(a) is type(b), f"{path}: {type(a).__name__} {a!r} vs {type(b).__name__} {b!r}"
    if isinstance(a, float):
        assert repr(a) == repr(b), f"{path}: {a!r} vs {b!r}"
    elif isinstance(a, list):
        assert len(a) == len(b), f"{path}: length {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{path}: keys {list(a)} vs {list(b)}"
        for key in a:
            same(a[key], b[key], f"{path}[{key!r}]")
    else:
        assert a == b, f"{path}: {a!r} vs {b!r}"


def queue_payloads(r: redis.Redis, key: str = "queue:default") -> list[dict[str, Any]]:
    """The parsed payloads of a list, oldest (next to run, right end) first."""
    return [json.loads(raw) for raw in reversed(r.lrange(key, 0, -1))]


def schedule_entries(r: redis.Redis, key: str = "schedule") -> list[tuple[dict[str, Any], float]]:
    """``(payload, score)`` of every member of a sorted set, by score."""
    return [(json.loads(m), s) for m, s in zscored(r, key)]
