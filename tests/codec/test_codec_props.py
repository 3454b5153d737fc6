"""Property tests: JSON-native args and extra keys survive decode/encode in value and type."""

from __future__ import annotations

import datetime
import decimal
import json
import re
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from verk_compat.codec.job import Job, check_args
from verk_compat.codec.ruby_json import dumps, ruby_float
from verk_compat.errors import InvalidJob

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
keys = st.text(min_size=1, max_size=10).filter(lambda k: k not in _KNOWN)
_KNOWN: set[str] = {
    "class", "class_name", "args", "jid", "queue", "retry", "retry_count", "created_at",
    "enqueued_at",
    "failed_at", "retried_at", "error_message", "error_class", "error_backtrace", "backtrace",
    "retry_queue", "dead", "retry_for", "tags", "wrapped", "bid",
}  # fmt: skip


def same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return repr(a) == repr(b)
    return bool(a == b)


@settings(max_examples=300)
@given(st.lists(json_values, max_size=6), st.dictionaries(keys, json_values, max_size=4))
def test_new_encode_decode(args: list[Any], extra: dict[str, Any]) -> None:
    job = Job.new("W", args, **extra)
    out = job.encode()
    assert same(json.loads(out)["args"], args)
    back = Job.decode(out)
    assert same(back.args, args)
    for key, value in extra.items():
        assert same(json.loads(bytes(back.extra[key])), value)
    assert back.encode() == out
    back.args  # noqa: B018 - materialise, then re-encode from Python values
    assert back.encode() == out
    assert same(json.loads(back.encode("sidekiq8"))["args"], args)


@settings(max_examples=300)
@given(st.lists(json_values, max_size=6), st.dictionaries(keys, json_values, max_size=4))
def test_foreign_payload_round_trip(args: list[Any], extra: dict[str, Any]) -> None:
    doc = {"retry": True, "queue": "q", **extra, "class": "W", "args": args, "jid": "j"}
    raw = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    job = Job.decode(raw)
    assert job.encode() == raw
    assert same(json.loads(job.replace(retry_count=0).encode()), {**doc, "retry_count": 0})
    assert same(json.loads(job.encode("sidekiq8")), doc)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_format_is_ruby(value: float) -> None:
    text = dumps([value]).decode()[1:-1]
    assert text == ruby_float(value)
    assert float(text) == value
    assert re.fullmatch(r"-?\d+\.\d+(e[+-]\d\d+)?", text)


_BAD = st.sampled_from(
    [datetime.datetime(2020, 1, 1), decimal.Decimal(1), {1, 2}, (1,), b"x", object()]
)


@given(st.lists(json_values, max_size=4), _BAD, st.integers(min_value=0, max_value=4))
def test_check_args_finds_path(args: list[Any], bad: Any, depth: int) -> None:
    value: Any = bad
    path = ""
    for level in range(depth):
        if level % 2:
            value, path = {"k": value}, '["k"]' + path
        else:
            value, path = [value], "[0]" + path
    args = [*args, value]
    expected = f"args[{len(args) - 1}]{path}: {type(bad).__name__} is not JSON-native"
    try:
        check_args(args)
    except InvalidJob as exc:
        assert str(exc) == expected
    else:
        raise AssertionError("accepted a non-native value")


@given(json_values)
def test_check_args_accepts_native(value: Any) -> None:
    check_args([value])
    assert same(msgspec.json.decode(dumps([value])), [value])
