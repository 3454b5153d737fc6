"""The admin API and CLI on garbage in Redis (issue 15, item 5): show what can be read, mark the
rest, exit 0.

Each shape plants one kind of garbage next to a readable process, queue and job; each command
that reads it must exit 0 with no traceback, still show the readable things, print valid JSON
with ``--json`` (no ``Infinity``), and mark what it could not read with the word ``unreadable``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
from click.testing import CliRunner
from redis.typing import EncodableT, FieldT

from tests.support.garbage import HUGE_FLOAT_ARGS, deep_args, deep_object
from tests.support.replies import hset_fields
from verk_compat.cli import main
from verk_compat.codec.job import Job, now
from verk_compat.keys import Keys
from verk_compat.worker.process_info import heartbeat_fields

K = Keys()
GOOD_ID = "good-host:1:0123456789ab"
GOOD_JID = "600d600d600d600d600d600d"

Plant = Callable[[redis.Redis], object]


def plant_good(r: redis.Redis) -> None:
    """One readable process, queue and job in each set."""
    info = json.dumps({"hostname": "good-host", "pid": 1, "queues": ["default"], "tag": "t"})
    fields = heartbeat_fields(
        info.encode(), busy=1, quiet=False, beat=now(), rss=1, rtt_us=1, concurrency=5
    )
    r.sadd(K.processes, GOOD_ID)
    hset_fields(r, K.process(GOOD_ID), fields)
    job = Job.new("GoodJob", [1], jid=GOOD_JID).replace(enqueued_at=now())
    r.sadd(K.queues, "default")
    r.lpush(K.queue("default"), job.encode())
    for key in (K.retry, K.schedule, K.dead):
        r.zadd(key, {job.encode(): now()})


def process(r: redis.Redis, identity: str | bytes, **fields: Any) -> None:
    info = json.dumps({"hostname": "h", "pid": 2, "queues": ["default"]})
    base: dict[str, Any] = {"info": info, "busy": 0, "beat": repr(now()), "quiet": "false"}
    base.update(fields)
    r.sadd(K.processes, identity)
    mapping: dict[FieldT, EncodableT] = {name: value for name, value in base.items()}
    r.hset(identity, mapping=mapping)


def wrong_type(key: str) -> Plant:
    def plant(r: redis.Redis) -> None:
        r.delete(key)
        r.set(key, "not the type you expect")

    return plant


def scores(*values: float) -> Plant:
    def plant(r: redis.Redis) -> None:
        for key in (K.retry, K.schedule, K.dead):
            for i, value in enumerate(values):
                r.zadd(key, {Job.new("Odd", [i], jid=f"odd{i}").encode(): value})

    return plant


def members(*raws: bytes) -> Plant:
    def plant(r: redis.Redis) -> None:
        for key in (K.retry, K.schedule, K.dead):
            r.zadd(key, {raw: now() - i for i, raw in enumerate(raws)})
        r.rpush(K.queue("default"), *raws)

    return plant


SETS: list[tuple[str, ...]] = [("retries", "list"), ("dead", "list"), ("scheduled", "list")]
P, S, Q = ("processes",), ("stats",), ("queues",)

# name -> (plant, commands that must mark what they cannot read, commands that must only cope)
SHAPES: dict[str, tuple[Plant, list[tuple[str, ...]], list[tuple[str, ...]]]] = {
    "processes member not UTF-8": (lambda r: process(r, b"bad-\xff\xfe:1:x"), [P, S], []),
    "processes wrong type": (wrong_type(K.processes), [P, S], []),
    "identity hash wrong type": (
        lambda r: (r.sadd(K.processes, "h:2:list"), r.rpush("h:2:list", "x")),
        [P, S],
        [],
    ),
    "identity info not UTF-8 JSON": (lambda r: process(r, "h:3:x", info=b'{"q":"\xff'), [P], [S]),
    "identity info nested deep": (lambda r: process(r, "h:4:x", info=deep_object()), [P], [S]),
    "concurrency a list": (
        lambda r: process(r, "h:5:x", info=json.dumps({"concurrency": [1, 2]})),
        [P],
        [S],
    ),
    "concurrency huge float": (lambda r: process(r, "h:6:x", concurrency="1e400"), [P], [S]),
    "beat -inf, busy inf": (lambda r: process(r, "h:7:x", beat="-inf", busy="inf"), [P, S], []),
    "queues member not UTF-8": (
        lambda r: (r.sadd(K.queues, b"q\xff"), r.rpush(b"queue:q\xff", b"{}")),
        [Q, S],
        [],
    ),
    "queues wrong type": (wrong_type(K.queues), [Q, S], []),
    "queue list wrong type": (
        lambda r: (r.sadd(K.queues, "odd"), r.hset(K.queue("odd"), "a", "b")),
        [Q, S],
        [],
    ),
    "sets wrong type": (
        lambda r: (wrong_type(K.retry)(r), wrong_type(K.dead)(r), wrong_type(K.schedule)(r)),
        [*SETS, S],
        [],
    ),
    "scores 1e20, inf, -inf": (scores(1e20, float("inf"), float("-inf")), SETS, [S]),
    "scores far past, far future": (scores(-1e12, 3e11), SETS, [S]),
    "deeply nested members": (members(deep_args(), deep_object()), [*SETS, Q], [S]),
    "dead entry with a huge float arg": (members(HUGE_FLOAT_ARGS), SETS, [Q, S]),
    "enqueued_at far future": (
        members(Job.new("W", [1]).replace(enqueued_at=1e300).encode()),
        [],
        [Q, S],
    ),
}

CASES = [
    pytest.param(
        name, command, marked, as_json,
        id=f"{name}|{' '.join(command)}|{'json' if as_json else 'text'}",
    )
    for name, (_plant, marks, copes) in SHAPES.items()
    for marked, commands in ((True, marks), (False, copes))
    for command in commands
    for as_json in (False, True)
]  # fmt: skip


def _no_constants(token: str) -> Any:
    raise AssertionError(f"JSON output holds {token}")


def good_marker(command: tuple[str, ...]) -> str:
    if command[0] == "processes":
        return GOOD_ID
    if command[0] in ("retries", "dead", "scheduled"):
        return GOOD_JID
    if command[0] == "queues":
        return "default"
    return "processed"


@pytest.mark.parametrize(("shape", "command", "marked", "as_json"), CASES)
def test_admin_command_on_garbage(
    r: redis.Redis,
    redis_url: str,
    shape: str,
    command: tuple[str, ...],
    marked: bool,
    as_json: bool,
) -> None:
    plant_good(r)
    SHAPES[shape][0](r)
    args = [*command, "--redis-url", redis_url, *(["--json"] if as_json else [])]
    result = CliRunner().invoke(main, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    if as_json:
        json.loads(out, parse_constant=_no_constants)
    if not shape.endswith("s wrong type") or command == S:  # else the whole key is garbage
        assert good_marker(command) in out
    if marked:
        assert "unreadable" in result.output, result.output


def test_table_covers_every_shape_and_command() -> None:
    assert len(SHAPES) >= 15
    assert {c[0] for _p, marks, copes in SHAPES.values() for c in marks + copes} == {
        "processes", "stats", "queues", "retries", "dead", "scheduled",
    }  # fmt: skip
