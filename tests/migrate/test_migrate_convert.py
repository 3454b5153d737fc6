"""Pure migration conversions (no Redis): Resque <-> Sidekiq, Resque failures, Verk 1.x."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.migrate import VERK, failure
from verk_compat.codec.backtrace import decode_backtrace
from verk_compat.codec.job import Job
from verk_compat.errors import InvalidJob
from verk_compat.migrate.convert import (
    is_verk1,
    parse_resque_time,
    quarantine_entry,
    resque_failure_to_sidekiq,
    resque_to_sidekiq,
    sidekiq_to_resque,
    verk1_to_sidekiq,
)
from verk_compat.migrate.plans import classify

JSON_ARGS = st.lists(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**62), 2**62) | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
        max_leaves=6,
    ),
    max_size=4,
)


def resque_payload(class_name: str, args: list[Any]) -> bytes:
    return msgspec.json.encode({"class": class_name, "args": args})


def test_resque_to_sidekiq_adds_sidekiq_fields() -> None:
    raw = b'{"class":"Mailer","args":[1,"two",{"k":[3.50]}]}'
    out = resque_to_sidekiq(raw, "mail", at=1700000000.25)
    job = json.loads(out.payload)
    assert out.score is None
    assert out.payload.startswith(b'{"class":"Mailer","args":[1,"two",{"k":[3.50]}],')
    assert job["queue"] == "mail" and job["retry"] is True
    assert re.fullmatch(r"[0-9a-f]{24}", job["jid"])
    assert job["created_at"] == job["enqueued_at"] == 1700000000.25
    Job.decode(out.payload)  # a valid Sidekiq payload


def test_resque_to_sidekiq_keeps_existing_jid_and_retry() -> None:
    raw = b'{"class":"W","args":[],"jid":"abc","retry":3,"queue":"old"}'
    job = json.loads(resque_to_sidekiq(raw, "new").payload)
    assert job["jid"] == "abc" and job["retry"] == 3 and job["queue"] == "new"


@pytest.mark.parametrize("raw", [b"{not json", b'{"args":[1]}', b'{"class":"W","args":"x"}', b"[]"])
def test_invalid_resque_payload_raises(raw: bytes) -> None:
    with pytest.raises(InvalidJob):
        resque_to_sidekiq(raw, "q")


@given(st.text(min_size=1, max_size=10), JSON_ARGS)
def test_resque_sidekiq_round_trip_is_exact(class_name: str, args: list[Any]) -> None:
    raw = resque_payload(class_name, args)
    there = resque_to_sidekiq(raw, "q").payload
    assert sidekiq_to_resque(there).payload == raw


def test_sidekiq_to_resque_is_exactly_class_and_args() -> None:
    job = Job.new("HardWorker", [1, 2.5, "x"], queue="q", tags=["a"], backtrace=True)
    out = sidekiq_to_resque(job.encode())
    assert out.payload == b'{"class":"HardWorker","args":[1,2.5,"x"]}'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024/01/02 03:04:05 UTC", 1704164645.0),
        ("2024/01/02 03:04:05 GMT", 1704164645.0),
        ("2024/01/02 03:04:05", 1704164645.0),
        ("2024/01/01 22:04:05 EST", 1704164645.0),
        ("2024/01/02 05:04:05 +0200", 1704164645.0),
        ("2024/01/02 05:04:05 +02:00", 1704164645.0),
        ("2024/01/02 04:04:05 CET", 1704164645.0),
    ],
)
def test_parse_resque_time(text: str, expected: float) -> None:
    assert parse_resque_time(text) == expected


@pytest.mark.parametrize("text", ["2024-01-02T03:04:05Z", "2024/13/02 03:04:05 UTC", "x", ""])
def test_parse_resque_time_refuses(text: str) -> None:
    with pytest.raises(InvalidJob):
        parse_resque_time(text)


def test_parse_resque_time_refuses_unknown_zone() -> None:
    with pytest.raises(InvalidJob, match="unknown time zone"):
        parse_resque_time("2024/01/02 03:04:05 IST")


def test_resque_failure_to_sidekiq_dead_member() -> None:
    out = resque_failure_to_sidekiq(failure())
    job = json.loads(out.payload)
    assert out.score == "1704164645.0"
    assert job["class"] == "BadJob" and job["args"] == [7, "x"] and job["queue"] == "critical"
    assert job["error_class"] == "RuntimeError" and job["error_message"] == "boom"
    assert job["failed_at"] == 1704164645.0 and job["retry_count"] == 0 and job["retry"] is True
    assert decode_backtrace(job["error_backtrace"]) == [
        "app/jobs/bad.rb:3:in `perform'",
        "lib/resque/job.rb:1",
    ]
    assert re.fullmatch(r"[0-9a-f]{24}", job["jid"])


def test_resque_failure_without_backtrace_or_queue() -> None:
    job = json.loads(resque_failure_to_sidekiq(failure(backtrace=None, queue=None)).payload)
    assert "error_backtrace" not in job and job["queue"] == "default"


@pytest.mark.parametrize(
    "raw",
    [b"nope", failure(failed_at="yesterday"), failure(payload={"args": []}), b'{"payload":{}}'],
)
def test_bad_resque_failure_raises(raw: bytes) -> None:
    with pytest.raises(InvalidJob):
        resque_failure_to_sidekiq(raw)


def test_verk1_to_sidekiq() -> None:
    assert is_verk1(VERK)
    job = json.loads(verk1_to_sidekiq(VERK).payload)
    assert job["class"] == "Elixir.MyWorker" and job["args"] == [1, "a"]
    assert job["retry"] == 5 and job["retry_count"] == 1  # Verk counts from 1, Sidekiq from 0
    assert job["jid"] == "123456789012" and job["queue"] == "default"
    assert job["created_at"] == 1699999990.0 and job["failed_at"] == 1700000000.0
    assert decode_backtrace(job["error_backtrace"]) == ["lib/a.ex:1", "lib/b.ex:2"]
    assert "max_retry_count" not in job and "finished_at" not in job
    assert not is_verk1(verk1_to_sidekiq(VERK).payload)


def test_verk1_never_failed_job_and_queue_from_key() -> None:
    raw = b'{"class":"W","args":"[]","jid":null,"queue":null,"retry_count":0,'
    raw += b'"max_retry_count":null}'
    job = json.loads(verk1_to_sidekiq(raw, "mail").payload)
    assert job["queue"] == "mail" and job["retry"] is True and "retry_count" not in job
    assert re.fullmatch(r"[0-9a-f]{24}", job["jid"])
    with pytest.raises(InvalidJob, match="queue"):
        verk1_to_sidekiq(raw)


def test_verk1_leaves_sidekiq_payloads_alone() -> None:
    raw = Job.new("W", [1], retry=3).encode()
    assert verk1_to_sidekiq(raw, "default").payload == raw
    with pytest.raises(InvalidJob):
        verk1_to_sidekiq(b'{"class":"W","args":"[1"}')


def test_quarantine_entry_keeps_raw_exactly() -> None:
    raw = '{"class": "W", "args": [1.0e0, "\u00e9"]'.encode()
    entry = json.loads(quarantine_entry(raw, "resque:queue:q", "bad", "12.5"))
    assert entry["raw"].encode() == raw and entry["source_key"] == "resque:queue:q"
    assert entry["reason"] == "bad" and entry["score"] == "12.5"
    binary = json.loads(quarantine_entry(b"\xff\x00", "k", "not utf-8"))
    assert base64.b64decode(binary["raw_base64"]) == b"\xff\x00" and "raw" not in binary


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("queues", ("SET", "SET", "set")),
        ("queue:default", ("RIGHT", "LEFT", "list")),
        ("inprogress:q:host:1:abc", ("RIGHT", "LEFT", "list")),
        ("dead", ("ZSET", "ZSET", "zset")),
        ("stat:processed:2024-01-01", ("COUNTER", "COUNTER", "string")),
        ("processes", None),
        ("host:1:abc", None),
        ("host:1:abc:work", None),
        ("host:1:abc-signals", None),
        ("process_cleanup", None),
    ],
)
def test_classify(name: str, expected: Any) -> None:
    assert classify(name) == expected


def test_migration_key_builders() -> None:
    from verk_compat.keys import Keys, ResqueKeys

    assert Keys().quarantine("resque:queue:a") == "verk:quarantine:resque:queue:a"
    assert Keys("ns").migrate_progress("queue:a") == "ns:verk:migrate:progress:queue:a"
    assert Keys().migrate_applied == "verk:migrate:applied"
    assert Keys("a*b").pattern() == "a\\*b:*" and Keys().pattern() == "*"
    assert (
        Keys("x").queue_pattern() == "x:queue:*"
        and ResqueKeys().queue_pattern() == "resque:queue:*"
    )
    assert Keys().inprogress_queue_pattern("q[1]") == "inprogress:q\\[1\\]:*"
    assert Keys("ns").logical("ns:queue:a") == "queue:a" and Keys("ns").logical("queue:a") is None
    assert Keys("ns").key("stat:processed") == "ns:stat:processed"
