"""Pure parts of the admin API and CLI: latency, day ranges, history rows, formatting."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.support.garbage import deep_object
from verk_compat.api.processes import build_process
from verk_compat.api.values import (
    DayStat,
    as_float,
    as_int,
    at_time,
    day_range,
    decode_or_none,
    history_rows,
    info_queues,
    job_latency,
    parse_info,
    payload_latency,
    read_int,
    retry_payload,
    scan_pattern,
    shown,
    text,
    wire,
)
from verk_compat.cli._admin import emit, fmt_age, fmt_time, render_table, shorten
from verk_compat.codec.job import Job


def test_as_int_and_float_read_redis_replies() -> None:
    assert [as_int(v) for v in (None, b"12", "7", 3, b"x")] == [0, 12, 7, 3, 0]
    assert [as_float(v) for v in (None, b"1.5", b"nan?")] == [0.0, 1.5, 0.0]


def test_day_range_newest_first() -> None:
    start = dt.date(2024, 3, 1)
    assert day_range(start, 3) == [start, dt.date(2024, 2, 29), dt.date(2024, 2, 28)]
    for bad in (0, 5 * 365 + 1):
        with pytest.raises(ValueError, match="days must be"):
            day_range(start, bad)


def test_history_rows_zip_replies() -> None:
    days = day_range(dt.date(2024, 1, 2), 2)
    rows = history_rows(days, [b"5", None], [b"1", b"2"])
    assert rows == [DayStat(days[0], 5, 1), DayStat(days[1], 0, 2)]
    with pytest.raises(ValueError):
        history_rows(days, [b"1"], [b"1", b"2"])


def test_latency_prefers_enqueued_at_then_created_at() -> None:
    job = Job.new("W", created_at=100.0)
    assert job_latency(job, 150.0) == 50.0
    assert job_latency(job.replace(enqueued_at=140.0), 150.0) == 10.0
    assert job_latency(None, 150.0) == 0.0
    bare = Job("W", [], jid="x")
    assert job_latency(bare, 150.0) == 0.0


def test_payload_latency_reads_ms_and_tolerates_garbage() -> None:
    ms = b'{"class":"W","args":[],"jid":"a","enqueued_at":1700000000000}'
    assert payload_latency(ms, 1_700_000_001.5) == pytest.approx(1.5)
    assert payload_latency(b"not json", 5.0) == 0.0
    assert payload_latency(None, 5.0) == 0.0
    assert decode_or_none(b"{") is None


def test_retry_payload_decrements_only_for_retry() -> None:
    job = Job.new("W", [1], queue="q").replace(retry_count=3)
    queue, fresh = retry_payload(job, now=9.5, decrement=True)
    assert queue == "q" and fresh.retry_count == 2 and fresh.enqueued_at == 9.5
    _, same = retry_payload(job, now=9.5, decrement=False)
    assert same.retry_count == 3
    fresh_job = Job("W", [], jid="j")
    queue, pushed = retry_payload(fresh_job, now=1.0, decrement=True)
    assert queue == "default" and pushed.retry_count is None and pushed.queue == "default"


def test_scan_pattern_escapes_glob_characters() -> None:
    assert scan_pattern("abc") == "*abc*"
    assert scan_pattern("a*b?[c]\\") == "*a\\*b\\?\\[c\\]\\\\*"


def test_parse_info_and_queues() -> None:
    assert parse_info(None) is None and parse_info(b"[1]") is None and parse_info(b"{") is None
    assert info_queues({"queues": ["a", "b"]}) == ["a", "b"]
    capsules = {"default": {"weights": {"a": 1, "b": 0}}, "x": {"weights": {"b": 1}}}
    assert info_queues({"capsules": capsules}) == ["a", "b"]
    assert info_queues({}) == []


def test_build_process_fields() -> None:
    info = b'{"queues":["q"],"concurrency":5,"tag":"t"}'
    process = build_process("h:1:ab", [info, b"2", b"10.5", b"true", b"100", b"30", None])
    assert process is not None
    assert (process.busy, process.beat, process.quiet, process.concurrency) == (2, 10.5, True, 5)
    assert process.summary(12.0)["beat_age"] == 1.5 and process.tag == "t"
    assert build_process("h:1:ab", [None, b"1", None, None, None, None, None]) is None


def test_render_table_aligns() -> None:
    text = render_table(("name", "size"), [("default", 3), ("mailers", 120)])
    assert text.splitlines() == ["name     size", "default     3", "mailers   120"]
    assert render_table(("a",), []) == "a"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.42, "0.4s"),
        (12, "12s"),
        (184, "3m04s"),
        (7500, "2h05m"),
        (273600, "3d04h"),
        (-3, "-3.0s"),
    ],
)
def test_fmt_age(seconds: float, text: str) -> None:
    assert fmt_age(seconds) == text


def test_fmt_time_and_shorten() -> None:
    assert fmt_time(0.0) == "1970-01-01 00:00:00Z" and fmt_time(None) == "-"
    assert shorten("a\nb  c") == "a b c" and shorten(None) == ""
    assert shorten("x" * 60, 10) == "x" * 9 + "…"


def test_garbage_replies_read_as_unreadable_not_as_crashes() -> None:
    # Issue 15 item 5: a concurrency that is a list, a huge float, inf; a beat of -inf.
    assert [read_int(v) for v in ([1, 2], 1e400, float("inf"), b"1e400", 5.0, True)] == [
        None, None, None, None, 5, None,
    ]  # fmt: skip
    assert [as_int(v) for v in ([1, 2], float("inf"), b"inf")] == [0, 0, 0]
    assert [as_float(v) for v in (b"-inf", b"inf", b"nan")] == [0.0, 0.0, 0.0]
    assert parse_info(b'{"q":"\xff') is None and parse_info(deep_object()) is None
    assert [at_time(v) for v in (1e20, float("inf"), float("-inf"), -1e12, 3e11)] == [None] * 5
    assert fmt_time(1e20) == "(unreadable: 1e+20)" and fmt_age(float("inf")) == "(unreadable: inf)"


def test_names_that_are_not_utf8_keep_their_bytes() -> None:
    name = text(b"q\xff")
    assert wire(f"queue:{name}") == b"queue:q\xff" and shown(name) == "q\\xff"
    assert text(b"plain") == "plain" == shown("plain")


def test_process_with_garbage_fields_lists_them() -> None:
    values = [b'{"concurrency":[1]}', b"inf", b"-inf", None, None, None, b"1e400"]
    process = build_process("h:1:x", values)
    assert process is not None
    assert (process.busy, process.beat, process.concurrency) == (0, 0.0, 0)
    assert [p.split(":")[0] for p in process.problems] == ["busy", "beat", "concurrency"]
    assert build_process("h:1:x", [None] * 7) is None  # no info: gone, not garbage
    plain = build_process("h:1:x", [b"{}", b"0", b"0", None, None, None, b"2"])
    assert plain is not None and plain.problems == () and plain.concurrency == 2
    wrong = build_process("h:1:x", ValueError("WRONGTYPE"))
    assert wrong is not None and "WRONGTYPE" in wrong.problems[0]


def test_emit_writes_valid_json_and_marks_problems(capsys: pytest.CaptureFixture[str]) -> None:
    emit(True, {"score": float("inf"), "x": [float("-inf")]}, lambda: "", ["busy: b'x'"])
    out, err = capsys.readouterr()
    assert out.strip() == '{"score": "inf", "x": ["-inf"]}'
    assert err.strip() == "verk-compat: unreadable busy: b'x'"
