"""Typed reads and writes of Redis for the tests, where redis-py's annotations are too loose.

The tests' clients (``tests/conftest.py``, and every ``redis.Redis.from_url`` in the tests) keep
redis-py's default ``decode_responses=False``, so every string reply is ``bytes``. redis-py's
annotations cannot know that: they type a reply as ``bytes | str``, and ``ZRANGE`` as plain
members or ``(member, score)`` pairs whatever ``withscores`` says. These helpers narrow with a
runtime check rather than a cast, so a wrong assumption fails the test with the reply named.
"""

from __future__ import annotations

from collections.abc import Mapping

import redis
from redis.typing import EncodableT, FieldT


def as_bytes(value: object) -> bytes:
    """``value``, which must be bytes (a reply of a bytes client, or a planned push argument)."""
    if not isinstance(value, bytes):
        raise TypeError(f"expected bytes, got {type(value).__name__} {value!r}")
    return value


def smembers(r: redis.Redis, key: str) -> set[bytes]:
    """SMEMBERS ``key``."""
    return {as_bytes(member) for member in r.smembers(key)}


def zmembers(r: redis.Redis, key: str, start: int = 0, end: int = -1) -> list[bytes]:
    """ZRANGE ``key`` ``start`` ``end``: the members, by score."""
    return [as_bytes(member) for member in r.zrange(key, start, end)]


def zscored(r: redis.Redis, key: str, start: int = 0, end: int = -1) -> list[tuple[bytes, float]]:
    """ZRANGE ``key`` ``start`` ``end`` WITHSCORES: ``(member, score)`` pairs, by score."""
    pairs = []
    for pair in r.zrange(key, start, end, withscores=True):
        match pair:
            case (bytes() as member, float() as score):
                pairs.append((member, score))
            case _:
                raise TypeError(f"expected a (bytes, float) pair, got {pair!r}")
    return pairs


def hset_fields(r: redis.Redis, key: str, fields: Mapping[str, EncodableT]) -> None:
    """HSET ``key`` with every field of ``fields``.

    redis-py types ``mapping`` with an invariant key type (``FieldT``, a union), which a
    ``dict[str, ...]`` does not match; the comprehension builds the dict it asks for.
    """
    mapping: dict[FieldT, EncodableT] = {field: value for field, value in fields.items()}
    r.hset(key, mapping=mapping)
