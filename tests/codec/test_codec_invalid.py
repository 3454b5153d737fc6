"""Malformed payloads: each raises InvalidJob naming the field and keeping the raw bytes."""

from __future__ import annotations

import pytest

from tests.support.garbage import HUGE_FLOAT_ARGS, HUGE_INT_ARGS, deep_args, deep_extra, deep_object
from verk_compat.codec.job import Job
from verk_compat.errors import InvalidJob

OK = '"class":"W","args":[]'

CASES: list[tuple[str, bytes, str, str | None]] = [
    ("not json", b"not json", "not valid JSON", None),
    ("truncated", b'{"class":"W","args":[', "not valid JSON", None),
    ("empty", b"", "not valid JSON", None),
    ("trailing garbage", b'{"class":"W","args":[]} x', "not valid JSON", None),
    ("bad utf-8", b'{"class":"W","args":["\xff"]}', "UTF-8", None),
    ("bad utf-8 in unknown key", b'{"class":"W","args":[],"x":"\xc3"}', "UTF-8", None),
    ("lone surrogate", b'{"class":"W","args":["\\ud800"]}', "not valid JSON", None),
    ("NaN", b'{"class":"W","args":[NaN]}', "not valid JSON", None),
    ("top-level array", b"[1,2]", "JSON object", None),
    ("top-level string", b'"job"', "JSON object", None),
    ("top-level null", b"null", "JSON object", None),
    ("missing class", b'{"args":[]}', "class: required key", "class"),
    ("empty class", b'{"class":"","args":[]}', "class", "class"),
    ("class not string", b'{"class":5,"args":[]}', "class", "class"),
    ("class null", b'{"class":null,"args":[]}', "class", "class"),
    ("missing args", b'{"class":"W"}', "args: required key", "args"),
    # {} is cjson's empty array (Verk's Lua) and reads as []; any other object is refused.
    ("args object", b'{"class":"W","args":{"a":1}}', "args", "args"),
    ("args string", b'{"class":"W","args":"[1]"}', "args", "args"),
    ("args null", b'{"class":"W","args":null}', "args", "args"),
    ("jid int", b'{%s,"jid":123}' % OK.encode(), "jid", "jid"),
    ("queue empty", b'{%s,"queue":""}' % OK.encode(), "queue", "queue"),
    ("queue int", b'{%s,"queue":1}' % OK.encode(), "queue", "queue"),
    ("retry string", b'{%s,"retry":"5"}' % OK.encode(), "retry", "retry"),
    ("retry_count float", b'{%s,"retry_count":1.0}' % OK.encode(), "retry_count", "retry_count"),
    ("retry_count string", b'{%s,"retry_count":"1"}' % OK.encode(), "retry_count", "retry_count"),
    ("created_at string", b'{%s,"created_at":"now"}' % OK.encode(), "created_at", "created_at"),
    ("enqueued_at bool", b'{%s,"enqueued_at":true}' % OK.encode(), "enqueued_at", "enqueued_at"),
    ("failed_at list", b'{%s,"failed_at":[1]}' % OK.encode(), "failed_at", "failed_at"),
    ("retried_at obj", b'{%s,"retried_at":{}}' % OK.encode(), "retried_at", "retried_at"),
    (
        "error_message int",
        b'{%s,"error_message":1}' % OK.encode(),
        "error_message",
        "error_message",
    ),
    ("error_class bool", b'{%s,"error_class":false}' % OK.encode(), "error_class", "error_class"),
    (
        "error_backtrace list",
        b'{%s,"error_backtrace":["a"]}' % OK.encode(),
        "error_backtrace",
        "error_backtrace",
    ),
    ("backtrace string", b'{%s,"backtrace":"yes"}' % OK.encode(), "backtrace", "backtrace"),
    ("retry_queue int", b'{%s,"retry_queue":1}' % OK.encode(), "retry_queue", "retry_queue"),
    ("dead int", b'{%s,"dead":0}' % OK.encode(), "dead", "dead"),
    ("retry_for float", b'{%s,"retry_for":1.5}' % OK.encode(), "retry_for", "retry_for"),
    ("tags string", b'{%s,"tags":"a,b"}' % OK.encode(), "tags", "tags"),
    ("wrapped int", b'{%s,"wrapped":1}' % OK.encode(), "wrapped", "wrapped"),
    ("bid list", b'{%s,"bid":[]}' % OK.encode(), "bid", "bid"),
]


@pytest.mark.parametrize(("name", "raw", "needle", "field"), CASES, ids=[c[0] for c in CASES])
def test_malformed_payload(name: str, raw: bytes, needle: str, field: str | None) -> None:
    with pytest.raises(InvalidJob) as info:
        Job.decode(raw)
    assert needle in str(info.value)
    assert info.value.raw == raw
    assert info.value.field == field


def test_table_is_big_enough() -> None:
    assert len(CASES) >= 25


def test_str_input_kept_as_bytes() -> None:
    with pytest.raises(InvalidJob) as info:
        Job.decode('{"class":"W"}')
    assert info.value.raw == b'{"class":"W"}'


@pytest.mark.parametrize("value", [123, None, ["x"], {"class": "W"}])
def test_wrong_input_type(value: object) -> None:
    with pytest.raises(InvalidJob, match="bytes or str"):
        Job.decode(value)  # type: ignore[arg-type]


def test_resque_and_verk_malformed() -> None:
    with pytest.raises(InvalidJob, match="class"):
        Job.decode_resque(b'{"args":[]}')
    with pytest.raises(InvalidJob, match="jid"):
        Job.decode_verk1(b'{"class":"W","args":"[]","jid":1.5}')
    with pytest.raises(InvalidJob, match="args"):
        Job.decode_verk1(b'{"class":"W","args":"{\\"a\\":1}"}')


DEEP = [
    ("deep args", deep_args(), "nested too deep"),
    ("deep unknown key", deep_extra(), "nested too deep"),
    ("deep object", deep_object(), "nested too deep"),
    ("deep args, 1,100 levels", deep_args(1100), "nested too deep"),
]


@pytest.mark.parametrize(("name", "raw", "needle"), DEEP, ids=[c[0] for c in DEEP])
def test_deep_nesting_is_an_invalid_job(name: str, raw: bytes, needle: str) -> None:
    for decode in (Job.decode, Job.decode_resque, Job.decode_verk1):
        with pytest.raises(InvalidJob, match=needle) as info:
            decode(raw)
        assert info.value.raw == raw


@pytest.mark.parametrize("raw", [HUGE_FLOAT_ARGS, HUGE_INT_ARGS], ids=["1e400", "5000 digits"])
def test_unreadable_args_are_an_invalid_job_when_read(raw: bytes) -> None:
    job = Job.decode(raw)  # args stay raw JSON until read; the bytes are kept untouched
    assert job.encode() == raw
    with pytest.raises(InvalidJob, match="args: unreadable") as info:
        job.args  # noqa: B018
    assert info.value.field == "args" and info.value.raw == raw


def test_moderate_nesting_still_decodes() -> None:
    job = Job.decode(deep_args(200))
    assert job.encode() == deep_args(200)
    assert isinstance(job.args[0], list)
