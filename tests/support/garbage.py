"""Bad payloads shared by the edge-input tests and the fuzzer: deep nesting, huge numbers."""

from __future__ import annotations

import base64
import json

import redis

from tests.support.replies import as_bytes

#: Deeper than any JSON decoder here accepts (msgspec and ``json`` stop near 1,000 levels).
DEPTH = 5000


def nested(depth: int = DEPTH) -> bytes:
    """``[[[...]]]`` nested ``depth`` levels."""
    return b"[" * depth + b"]" * depth


def deep_args(depth: int = DEPTH) -> bytes:
    """A job whose only argument is nested ``depth`` levels."""
    return b'{"class":"W","args":[%s],"queue":"default","jid":"deep"}' % nested(depth)


def deep_extra(depth: int = DEPTH) -> bytes:
    """A job with an unknown key nested ``depth`` levels (its args are fine)."""
    return b'{"class":"W","args":[1],"x":%s,"jid":"deepx"}' % nested(depth)


def deep_object(depth: int = DEPTH) -> bytes:
    """A JSON object nested ``depth`` levels (not a job)."""
    return b'{"a":' * depth + b"1" + b"}" * depth


#: Arguments that decode (skipped as raw JSON) but cannot be read as Python values.
HUGE_FLOAT_ARGS = b'{"class":"W","args":[1e400],"queue":"default","jid":"hugef"}'
HUGE_INT_ARGS = b'{"class":"W","args":[1%s],"queue":"default","jid":"hugei"}' % (b"0" * 5000)


def holders(r: redis.Redis, member: bytes) -> list[str]:
    """Every key whose list, set, sorted set or hash holds ``member`` (or a wrapper quoting it)."""
    found: list[str] = []
    for key in sorted(as_bytes(k) for k in r.scan_iter(count=1000)):
        kind = r.type(key)
        replies: list[object]
        if kind == b"list":
            replies = list(r.lrange(key, 0, -1))
        elif kind == b"zset":
            replies = list(r.zrange(key, 0, -1))
        elif kind == b"set":
            replies = list(r.smembers(key))
        elif kind == b"hash":
            replies = list(r.hvals(key))
        else:
            continue
        values = [as_bytes(v) for v in replies]
        if any(v == member or _quotes(v, member) for v in values):
            found.append(key.decode())
    return found


def _quotes(value: bytes, member: bytes) -> bool:
    """Whether ``value`` is a JSON wrapper (quarantine entry) holding ``member`` as a string."""
    if len(value) < len(member) or not value.startswith(b"{"):
        return False
    try:
        data = json.loads(value)
    except (ValueError, RecursionError):
        return False
    if not isinstance(data, dict):
        return False
    try:
        text = member.decode()
    except UnicodeDecodeError:
        return bool(data.get("raw_base64") == base64.b64encode(member).decode())
    return text in (data.get("raw"), data.get("payload"))
