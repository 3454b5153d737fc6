"""Payload fuzzing for the worker (issue 15 item 6): generation from the recorded fixtures, and
the census of where each payload ended up.

Each payload is one of: a legit fixture job (given a unique jid), a mutation of one (truncated,
a known key of the wrong type, bytes that are not UTF-8, deep nesting, huge numbers, duplicate
keys), or junk (random bytes, JSON that is not an object). Every one must end in exactly one
place: ran, retry, dead, quarantine, or (a legit job for a queue the worker does not serve)
its queue.
"""

from __future__ import annotations

import base64
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from tests.support.replies import as_bytes
from verk_compat.codec.job import Job
from verk_compat.errors import InvalidJob
from verk_compat.keys import Keys

K = Keys()
ROOT = Path(__file__).resolve().parents[2]
#: Queues the fuzzed worker serves; fixture jobs of other queues (``low``) stay in theirs.
SERVED = ("default", "critical")
#: Classes that raise (so their jobs go to retry or dead).
FAILING = ("FailingWorker", "RuntimeErrorWorker", "UnicodeErrorWorker", "DeadWorker")
#: Classes that run (others are unknown to the app: they fail as UnknownJob).
RUNNING = ("FixtureWorker", "Outer::NestedWorker", "OptionsWorker", "CriticalWorker")

# Values of the wrong type for each known key.
WRONG: dict[str, list[Any]] = {
    "class": [5, None, "", [], {"a": 1}],
    "args": ["[1]", 5, None, {"a": 1}],
    "queue": [1, "", [], None],
    "jid": [1, [], True],
    "retry": ["yes", [1], {"a": 1}],
    "retry_count": [1.5, "1", []],
    "created_at": ["now", [1], True],
    "enqueued_at": ["x", {}],
    "failed_at": [[1], "yesterday"],
    "error_backtrace": [["a"], 5],
    "error_message": [5, []],
    "tags": ["a,b", 5],
    "backtrace": ["yes"],
    "dead": [0, "no"],
}
# Huge or odd numbers, as JSON tokens, one key at a time. Not generated: a huge retry_count
# together with a huge retry (both 10**300): its retry delay overflows a float. That is issue
# 15's "huge retry_count overflow", fixed on the issue-15 branch by another helper.
HUGE = [
    b"1e400",
    b"-1e400",
    b"1" + b"0" * 5000,
    b"1e308",
    b"-0.0",
    b"123456789012345678901234567890",
]
HUGE_KEYS = ("retry_count", "args", "created_at", "enqueued_at", "retry", "x_extra")


@dataclass
class Payload:
    """One fuzzed payload, where it was pushed, and the jid it can be found by (if any)."""

    raw: bytes
    kind: str
    target: str  # "queue:<q>", "retry" or "schedule"
    jid: str | None = None
    queue: str | None = None  # a legit job's own queue


def fixture_jobs() -> list[bytes]:
    """Every recorded Sidekiq job payload of fixtures/ (lists and sorted sets)."""
    found: set[bytes] = set()
    for path in sorted(ROOT.glob("fixtures/*/*.json")):
        data = json.loads(path.read_text())
        for item in [data, *data.get("items", [])] if isinstance(data, dict) else []:
            raw = item.get("raw")
            if isinstance(raw, str) and raw.startswith("{") and '"class"' in raw:
                found.add(raw.encode())
    return sorted(found)


def _with_jid(base: bytes, jid: str) -> bytes:
    return Job.decode(base).replace(jid=jid).encode()


def _set_key(raw: bytes, key: str, token: bytes) -> bytes:
    """``raw`` with ``key`` set to the JSON ``token`` (appended if absent), bytes kept otherwise."""
    data = json.loads(raw)
    data[key] = "\0TOKEN\0"
    return json.dumps(data, separators=(",", ":")).encode().replace(b'"\\u0000TOKEN\\u0000"', token)


def _mutate(rng: random.Random, raw: bytes) -> tuple[str, bytes]:
    kind = rng.choice(["truncated", "wrong-type", "not-utf8", "deep", "huge", "duplicate-key"])
    if kind == "truncated":
        return kind, raw[: rng.randrange(1, len(raw))]
    if kind == "wrong-type":
        key = rng.choice(sorted(WRONG))
        return f"{kind} {key}", _set_key(raw, key, json.dumps(rng.choice(WRONG[key])).encode())
    if kind == "not-utf8":
        at = rng.randrange(1, len(raw) - 1)
        return kind, raw[:at] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80"]) + raw[at:]
    if kind == "deep":
        depth = rng.choice([1100, 3000, 20000])
        name = rng.choice(["args", "x_extra", "tags"])
        nested = b"[" * depth + b"]" * depth
        return f"{kind} {name}", _set_key(raw, name, b"[%s]" % nested if name == "args" else nested)
    if kind == "huge":
        name = rng.choice(HUGE_KEYS)
        token = rng.choice(HUGE)
        return f"{kind} {name}", _set_key(raw, name, b"[%s]" % token if name == "args" else token)
    pairs = [(b"class", b'"Other"'), (b"args", b"5"), (b"queue", b'"default"'), (b"class", b"7")]
    dup, token = rng.choice(pairs)
    extra = b'"%s":%s' % (dup, token)
    if rng.random() < 0.5:  # first or last: the last one wins, as in Ruby
        return kind, raw[:1] + extra + b"," + raw[1:]
    return kind, raw[:-1] + b"," + extra + raw[-1:]


def _junk(rng: random.Random, n: int) -> bytes:
    choices = [
        bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))),
        b"[1,2,%d]" % n, b'"job %d"' % n, b"null", b"{}", b'{"class":"A%d"}' % n,
        b'{"args":[%d]}' % n, b"%d" % n, b"",
    ]  # fmt: skip
    return rng.choice(choices)


def generate(rng: random.Random, count: int) -> list[Payload]:
    """``count`` distinct payloads: about 40% legit, 45% mutated, 15% junk."""
    bases = fixture_jobs()
    out: list[Payload] = []
    seen: set[tuple[bytes, str]] = set()
    n = 0
    while len(out) < count:
        n += 1
        jid = f"fz{n:022d}"
        roll = rng.random()
        if roll < 0.4:
            raw, kind = _with_jid(rng.choice(bases), jid), "legit"
        elif roll < 0.85:
            kind, raw = _mutate(rng, _with_jid(rng.choice(bases), jid))
        else:
            kind, raw = "junk", _junk(rng, n)
        target = rng.choice(["queue:default", "queue:critical", "retry", "schedule"])
        if (raw, target) in seen or (target != "retry" and target != "schedule" and raw == b""):
            continue
        seen.add((raw, target))
        out.append(Payload(raw, kind, target, jid=fuzz_jid(raw), queue=_queue(raw)))
    return out


def _queue(raw: bytes) -> str | None:
    try:
        return Job.decode(raw).queue
    except InvalidJob:
        return None


def readable(raw: bytes) -> Job | None:
    """The job of ``raw`` if it decodes and its args can be read, else ``None``."""
    try:
        job = Job.decode(raw)
        job.args  # noqa: B018
    except InvalidJob:
        return None
    return job


def push(r: redis.Redis, payloads: list[Payload], due: float) -> None:
    """Push each payload to its target: LPUSH to a queue, ZADD due (or ``-inf``) to a set."""
    pipe = r.pipeline(transaction=False)
    for i, p in enumerate(payloads):
        if p.target.startswith("queue:"):
            pipe.lpush(p.target, p.raw)
        else:
            pipe.zadd(p.target, {p.raw: "-inf" if i % 17 == 0 else due - i})
    pipe.execute()


@dataclass
class Census:
    """Where each payload is: by jid for members that decode, by exact bytes otherwise."""

    places: dict[str, Counter[str]] = field(default_factory=dict)  # key -> jid/raw counts

    @classmethod
    def take(cls, r: redis.Redis) -> Census:
        census = cls()
        for key in (as_bytes(k) for k in r.scan_iter(count=1000)):
            name = key.decode("utf-8", "backslashreplace")
            kind = r.type(key)
            replies: list[object]
            if kind == b"list":
                replies = list(r.lrange(key, 0, -1))
            elif kind == b"zset":
                replies = list(r.zrange(key, 0, -1))
            else:
                continue
            census.places[name] = Counter(_ids(as_bytes(m)) for m in replies)
        return census

    def where(self, p: Payload) -> list[str]:
        """Every place holding ``p`` (a key once per copy)."""
        ids = {f"raw:{p.raw!r}", f"quoted:{p.raw!r}"} | ({f"jid:{p.jid}"} if p.jid else set())
        return [key for key, found in self.places.items() for i in ids for _ in range(found[i])]


def fuzz_jid(raw: bytes) -> str | None:
    """The fuzzer's jid (``fz...``) of ``raw`` if it decodes (its args may be unreadable)."""
    try:
        jid: object = Job.decode(raw).jid
    except InvalidJob:
        # A Verk-format job (args a JSON string: the worker runs it and writes its failures back
        # in Verk's format) is still known by its jid.
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            return None
        jid = (
            data.get("jid")
            if isinstance(data, dict) and isinstance(data.get("args"), str)
            else None
        )
    return jid if isinstance(jid, str) and jid.startswith("fz") else None


def _ids(member: bytes) -> str:
    """A member's identity: its jid when it decodes, else its bytes (a quarantine wrapper: the
    bytes it quotes)."""
    jid = fuzz_jid(member)
    if jid is not None:
        return f"jid:{jid}"
    try:
        data = json.loads(member)
    except (ValueError, RecursionError):
        return f"raw:{member!r}"
    if isinstance(data, dict) and "source_key" in data and "raw_base64" in data:
        return f"quoted:{base64.b64decode(data['raw_base64'])!r}"  # bytes that are not UTF-8
    if isinstance(data, dict) and isinstance(data.get("raw"), str) and "source_key" in data:
        quoted = data["raw"].encode()
        inner = fuzz_jid(quoted)
        return f"jid:{inner}" if inner else f"quoted:{quoted!r}"
    return f"raw:{member!r}"
