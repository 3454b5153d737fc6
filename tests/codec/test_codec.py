"""Job codec against every recorded Sidekiq 6.4.1 / 7.3.10 payload, plus profiles and helpers."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from verk_compat.codec.job import PROFILES, Job, check_args, now
from verk_compat.codec.ruby_json import dumps
from verk_compat.errors import InvalidJob

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
JOB_KEYS = re.compile(r"^(queue:.+|schedule|retry|dead)$")


def _entries(value: dict[str, Any]) -> Iterator[str]:
    if "raw" in value and isinstance(value["raw"], str):
        yield value["raw"]
    for item in value.get("items", []) + value.get("members", []):
        yield item["raw"] if isinstance(item, dict) else item


def _work_payloads(fields: dict[str, str]) -> Iterator[str]:
    for entry in fields.values():
        yield json.loads(entry)["payload"]


def _doc_payloads(doc: dict[str, Any]) -> Iterator[str]:
    key = doc.get("redis_key", "")
    if doc.get("redis_type") == "hash" and re.search(r":work(ers)?$", key):
        yield from _work_payloads(doc["raw"])
    elif JOB_KEYS.match(key):
        yield from _entries(doc)
    for name, value in doc.get("keys", {}).items():
        if JOB_KEYS.match(name):
            yield from _entries(value)
        elif re.search(r":work(ers)?$", name):
            yield from _work_payloads(value["fields"])


def recorded_payloads() -> list[tuple[str, bytes]]:
    """Every job payload recorded from real Sidekiq, as ``(id, exact bytes)``."""
    found = []
    for path in sorted(FIXTURES.glob("sidekiq-*/*.json")):
        doc = json.loads(path.read_text())
        for index, raw in enumerate(_doc_payloads(doc)):
            found.append((f"{path.parent.name}/{path.stem}[{index}]", raw.encode()))
    return found


PAYLOADS = recorded_payloads()


def same(a: Any, b: Any) -> bool:
    """Equal in value AND type, recursively (bool, int and float are distinct)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and a == 0:
        return str(a) == str(b)
    return bool(a == b)


def test_fixtures_found() -> None:
    names = {name.split("[")[0] for name, _ in PAYLOADS}
    assert len(PAYLOADS) >= 90
    for version in ("6.4.1", "7.3.10"):
        for stem in ("bulk", "work_hash", "activejob", "retry_second_failure", "enqueue_integers"):
            assert f"sidekiq-{version}/{stem}" in names


@pytest.mark.parametrize(("name", "raw"), PAYLOADS, ids=[n for n, _ in PAYLOADS])
def test_recorded_payload_round_trips(name: str, raw: bytes) -> None:
    job = Job.decode(raw)
    assert job.raw == raw
    assert job.encode() == raw
    assert job.encode("sidekiq6") == raw
    assert same(json.loads(job.encode()), json.loads(raw))
    original = json.loads(raw)
    assert same(job.args, original["args"])
    assert job.class_name == original["class"]
    assert job.jid == original.get("jid")
    assert list(job.extra) == [k for k in original if k not in _KNOWN_KEYS]
    # args decoded and re-encoded (not the raw token): still Ruby's bytes
    assert job.encode() == raw


@pytest.mark.parametrize(("name", "raw"), PAYLOADS, ids=[n for n, _ in PAYLOADS])
def test_recorded_payload_changed_keeps_prefix(name: str, raw: bytes) -> None:
    job = Job.decode(raw)
    changed = job.replace(error_message="boom", error_class="E", retry_count=0)
    out = json.loads(changed.encode())
    original = json.loads(raw)
    for key, value in original.items():
        if key not in ("error_message", "error_class", "retry_count"):
            assert same(out[key], value), key
    assert out["error_message"] == "boom"
    assert list(out)[: len(original)] == list(original)


@pytest.mark.parametrize(("name", "raw"), PAYLOADS, ids=[n for n, _ in PAYLOADS])
def test_recorded_payload_sidekiq8(name: str, raw: bytes) -> None:
    job = Job.decode(raw)
    out = json.loads(job.encode("sidekiq8"))
    for field in ("created_at", "enqueued_at", "failed_at", "retried_at"):
        if field in out:
            assert type(out[field]) is int
            assert abs(out[field] / 1000 - getattr(job, field)) <= 0.001
    back = Job.decode(job.encode("sidekiq8"))
    for field in ("created_at", "enqueued_at", "failed_at", "retried_at"):
        if getattr(job, field) is not None:
            assert abs(getattr(back, field) - getattr(job, field)) <= 0.001
    assert back.encode("sidekiq8") == job.encode("sidekiq8")


_KNOWN_KEYS = {
    "class",
    "args",
    "jid",
    "queue",
    "retry",
    "retry_count",
    "created_at",
    "enqueued_at",
    "failed_at",
    "retried_at",
    "error_message",
    "error_class",
    "error_backtrace",
    "backtrace",
    "retry_queue",
    "dead",
    "retry_for",
    "tags",
    "wrapped",
    "bid",
}


def _fixture(version: str, stem: str) -> bytes:
    doc = json.loads((FIXTURES / f"sidekiq-{version}" / f"{stem}.json").read_text())
    return str(doc["raw"]).encode()


@pytest.mark.parametrize("version", ["6.4.1", "7.3.10"])
def test_activejob_wrapper(version: str) -> None:
    job = Job.decode(_fixture(version, "activejob"))
    assert job.class_name == "ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper"
    assert job.wrapped == "InteropActiveJob"
    assert job.args[0]["job_class"] == "InteropActiveJob"


@pytest.mark.parametrize("version", ["6.4.1", "7.3.10"])
def test_retry_fields(version: str) -> None:
    job = Job.decode(_fixture(version, "retry_second_failure"))
    assert job.retry_count == 1
    assert job.failed_at == 1700000000.5
    assert isinstance(job.retried_at, float)
    assert job.error_class == "Interop::CustomError"


def test_custom_keys_kept_in_order() -> None:
    raw = _fixture("7.3.10", "class_options_custom")
    job = Job.decode(raw)
    assert job.retry == 5
    assert job.backtrace == 10
    assert job.tags == ["class-tag"]
    assert list(job.extra) == ["custom_key"]
    assert bytes(job.extra["custom_key"]) == b'"from sidekiq_options"'


def test_args_are_lazy() -> None:
    job = Job.decode(_fixture("7.3.10", "enqueue_basic"))
    assert job._args is None
    assert job.args == [1, "two", 3.0]
    assert job._args is not None


def test_job_retry_appends_in_sidekiq_order() -> None:
    raw = _fixture("7.3.10", "enqueue_basic")
    job = Job.decode(raw).replace(
        error_message="m", error_class="C", failed_at=1700000000.0, retry_count=0
    )
    assert job.raw is None
    out = job.encode()
    assert out.startswith(raw[:-1] + b",")
    assert out.endswith(
        b'"error_message":"m","error_class":"C","failed_at":1700000000.0,"retry_count":0}'
    )


def test_set_attribute_then_encode() -> None:
    raw = _fixture("7.3.10", "enqueue_basic")
    job = Job.decode(raw)
    job.queue = "critical"
    assert job.raw == raw
    assert json.loads(job.encode())["queue"] == "critical"
    assert Job.decode(raw).encode() == raw
    with pytest.raises(InvalidJob, match="queue"):
        job.queue = ""


def test_mutating_args_in_place_is_seen() -> None:
    job = Job.decode(_fixture("7.3.10", "enqueue_basic"))
    job.args.append({"k": 2**70})
    assert json.loads(job.encode())["args"][-1] == {"k": 2**70}


def test_whole_float_timestamp_written_as_float() -> None:
    job = Job.new("W", created_at=1700000000)
    assert b'"created_at":1700000000.0' in job.encode()
    assert b'"created_at":1700000000000' in job.encode("sidekiq8")


def test_sidekiq8_payload_int_ms() -> None:
    raw = (
        b'{"retry":true,"queue":"default","class":"W","args":[],"jid":"a",'
        b'"created_at":1700000000123,"enqueued_at":1700000000.5,"failed_at":1700000000}'
    )
    job = Job.decode(raw)
    assert job.created_at == pytest.approx(1700000000.123, abs=1e-6)
    assert job.enqueued_at == 1700000000.5
    assert job.failed_at == 1700000000.0  # integer below 1e11: legacy seconds
    assert job.encode("sidekiq7") == (
        b'{"retry":true,"queue":"default","class":"W","args":[],"jid":"a",'
        b'"created_at":1700000000.123,"enqueued_at":1700000000.5,"failed_at":1700000000.0}'
    )
    assert job.encode("sidekiq8") == (
        b'{"retry":true,"queue":"default","class":"W","args":[],"jid":"a",'
        b'"created_at":1700000000123,"enqueued_at":1700000000500,"failed_at":1700000000000}'
    )
    assert Job.decode(raw.decode()).created_at == job.created_at


def test_unknown_profile() -> None:
    with pytest.raises(ValueError, match="profile"):
        Job.new("W").encode("sidekiq5")  # type: ignore[arg-type]
    assert PROFILES == ("sidekiq6", "sidekiq7", "sidekiq8")


def test_retry_float_is_truthy() -> None:
    raw = b'{"class":"W","args":[],"retry":5.0}'
    job = Job.decode(raw)
    assert job.retry is True
    assert job.encode() == raw
    assert b'"retry":5.0' in job.replace(queue="q").encode()


def test_duplicate_keys_last_wins() -> None:
    job = Job.decode(b'{"class":"A","class":"B","args":[1],"x":1,"x":2}')
    assert job.class_name == "B"
    assert bytes(job.extra["x"]) == b"2"


def test_new_defaults_and_order() -> None:
    before = now()
    job = Job.new("HardJob", [1, "a"], tags=["t"], custom_key={"nested": True}, backtrace=10)
    assert re.fullmatch(r"[0-9a-f]{24}", job.jid or "")
    assert job.queue == "default"
    assert job.retry is True
    assert job.created_at is not None and before <= job.created_at <= time.time()
    assert job.raw is None
    out = json.loads(job.encode())
    assert list(out) == [
        "retry",
        "queue",
        "tags",
        "custom_key",
        "backtrace",
        "class",
        "args",
        "jid",
        "created_at",
    ]
    assert out["custom_key"] == {"nested": True}
    assert bytes(job.extra["custom_key"]) == b'{"nested":true}'


def test_new_then_decode_round_trip() -> None:
    job = Job.new("W", [1.5, 1e20, -0.0, 2**64, "é/\u2028"], queue="low", retry=3, jid="j")
    out = job.encode()
    assert b"1.0e+20" in out and b"\xc3\xa9/\xe2\x80\xa8" in out
    back = Job.decode(out)
    assert same(back.args, job.args)
    assert back.encode() == out


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"queue": ""}, "queue"),
        ({"queue": 5}, "queue"),
        ({"retry": "yes"}, "retry"),
        ({"retry": 1.5}, "retry"),
        ({"tags": "a"}, "tags"),
        ({"retry_for": 2_000_000_000}, "retry_for"),
        ({"retry_for": 1.5}, "retry_for"),
        ({"dead": 1}, "dead"),
        ({"custom": object()}, 'extra["custom"]'),
        ({"custom": {1: 2}}, 'extra["custom"]'),
        ({"jid": 5}, "jid"),
    ],
)
def test_new_rejects_bad_options(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(InvalidJob, match=re.escape(needle)):
        Job.new("W", [], **kwargs)


def test_new_rejects_bad_args() -> None:
    with pytest.raises(InvalidJob, match=re.escape('args[1]["when"]: datetime')):
        import datetime

        Job.new("W", [1, {"when": datetime.datetime.now()}])
    with pytest.raises(InvalidJob, match="class"):
        Job.new("", [])


def test_replace() -> None:
    job = Job.new("W", [1], jid="x")
    copy = job.replace(args=[2], queue="q", extra={"k": msgspec.Raw(b"1")})
    assert job.args == [1] and copy.args == [2] and copy.queue == "q"
    assert json.loads(copy.encode())["k"] == 1
    with pytest.raises(TypeError):
        job.replace(nope=1)
    with pytest.raises(InvalidJob):
        job.replace(retry_count="1")
    changed = copy.replace(tags=None)
    assert "tags" not in json.loads(changed.encode())


def test_field_set_to_none_is_omitted() -> None:
    raw = _fixture("7.3.10", "set_custom_keys")
    job = Job.decode(raw).replace(tags=None)
    assert "tags" not in json.loads(job.encode())


def test_check_args_paths() -> None:
    check_args([1, 2.5, "x", None, True, [], {}, {"a": [{"b": 2**80}]}])
    with pytest.raises(InvalidJob, match=re.escape('args[2]["when"]: set is not JSON-native')):
        check_args([1, 2, {"when": {1}}])
    with pytest.raises(InvalidJob, match=re.escape("args[0]: float nan")):
        check_args([float("nan")])
    with pytest.raises(InvalidJob, match=re.escape("args[0][1]: float inf")):
        check_args([[1, float("inf")]])
    with pytest.raises(InvalidJob, match="tuple"):
        check_args([(1, 2)])
    with pytest.raises(InvalidJob, match="must be a list"):
        check_args((1, 2))
    with pytest.raises(InvalidJob, match=re.escape("args[0]: hash key 1 (int)")):
        check_args([{1: "a"}])


def test_resque() -> None:
    raw = b'{"class":"Archive","args":[1,"x"],"meta":{"a":1}}'
    job = Job.decode_resque(raw)
    assert job.class_name == "Archive" and job.args == [1, "x"] and job.jid is None
    assert list(job.extra) == ["meta"]
    assert job.encode_resque() == b'{"class":"Archive","args":[1,"x"]}'
    sidekiq = job.replace(jid="abc", queue="default", retry=True, created_at=1.5e9)
    assert json.loads(sidekiq.encode())["meta"] == {"a": 1}
    assert Job.new("W", [1.0e20]).encode_resque() == b'{"class":"W","args":[1.0e+20]}'
    with pytest.raises(InvalidJob, match="args"):
        Job.decode_resque(b'{"class":"A"}')


def test_verk1() -> None:
    raw = (
        b'{"queue":"default","class":"MyWorker","args":"[1,\\"two\\",{\\"a\\":3.0}]",'
        b'"jid":12345678901234567890,"finished_at":null,"enqueued_at":1700000000,'
        b'"retry_count":0,"max_retry_count":5,"error_message":null,"failed_at":null,'
        b'"retried_at":null,"created_at":null,"error_backtrace":null,"newrelic":{"x":1}}'
    )
    job = Job.decode_verk1(raw)
    assert job.raw == raw
    assert job.jid == "12345678901234567890"
    assert job.args == [1, "two", {"a": 3.0}]
    assert job.enqueued_at == 1700000000.0
    assert job.retry == 5 and job.retry_count is None
    assert list(job.extra) == ["newrelic"]
    out = json.loads(job.encode())
    assert out["args"] == [1, "two", {"a": 3.0}] and out["enqueued_at"] == 1700000000.0
    assert "max_retry_count" not in out and "finished_at" not in out
    failed = Job.decode_verk1(
        b'{"class":"W","args":{},"jid":"1","retry_count":2,"failed_at":1700000001,'
        b'"max_retry_count":null}'
    )
    assert failed.args == [] and failed.retry_count == 2 and failed.retry is True
    with pytest.raises(InvalidJob, match="args"):
        Job.decode_verk1(b'{"class":"W","args":"[1"}')


def test_constructor_and_repr() -> None:
    job = Job("W", [1], jid="j", queue="q")
    assert job.encode() == b'{"queue":"q","class":"W","args":[1],"jid":"j"}'
    assert "W" in repr(job)
    assert job == Job.decode(job.encode())


def test_new_job_encodes_current_args() -> None:
    job = Job.new("W", [1], jid="j", created_at=1.5)
    assert (
        job.encode()
        == b'{"retry":true,"queue":"default","class":"W","args":[1],"jid":"j","created_at":1.5}'
    )
    job.args = [2.5]
    assert b'"args":[2.5]' in job.encode()
    copy = job.replace(args=[3], enqueued_at=2.0)
    assert copy.encode().endswith(b'"args":[3],"jid":"j","created_at":1.5,"enqueued_at":2.0}')
    job.args.append(1e20)
    assert b'"args":[2.5,1.0e+20]' in job.encode()
    assert b'"created_at":1500' in job.encode("sidekiq8")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"queue": ""},
        {"retry": "yes"},
        {"jid": 5},
        {"created_at": float("nan")},
        {"created_at": "x"},
    ],
)
def test_new_refuses_bad_defaults(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidJob):
        Job.new("W", [], **kwargs)
    with pytest.raises(InvalidJob):
        Job.new("", [])


def test_read_args_then_append_keys() -> None:
    raw = _fixture("7.3.10", "enqueue_basic")
    job = Job.decode(raw)
    assert job.args == [1, "two", 3.0]
    out = job.replace(retry_count=0).encode()
    assert out == raw[:-1] + b',"retry_count":0}'


def test_fixed_floats_near_small_are_kept() -> None:
    # ``0.0000`` inside a longer number (10.00001) is not a small float: written as Ruby does.
    assert dumps([10.00001, -10.00001, 100.000001, 0.00001, -0.00001]) == (
        b"[10.00001,-10.00001,100.000001,1.0e-05,-1.0e-05]"
    )
    job = Job.new("W", [10.00001], jid="j", created_at=1.5)
    assert job.encode() == (
        b'{"retry":true,"queue":"default","class":"W","args":[10.00001],"jid":"j","created_at":1.5}'
    )


def test_exponent_guard_ignores_hex_in_strings() -> None:
    assert dumps(["4e7a", "1e5", {"a1e5": "9e9"}]) == b'["4e7a","1e5",{"a1e5":"9e9"}]'
    assert dumps([1e20, {"k": 1e-7}]) == b'[1.0e+20,{"k":1.0e-07}]'
    assert dumps(1e20) == b"1.0e+20"


def test_new_plain_args_are_private_and_seen_when_changed() -> None:
    args = [1, "a", None, True]
    job = Job.new("W", args, jid="j", created_at=1.5)
    args.append(2)  # the caller's list is not the job's
    assert job.args == [1, "a", None, True]
    job.args.append(2.5)
    assert job.encode().endswith(b'"args":[1,"a",null,true,2.5],"jid":"j","created_at":1.5}')
    job.args.append({1, 2})
    with pytest.raises(InvalidJob):
        job.encode()


def test_new_jids_are_unique_hex_and_not_shared_with_a_fork() -> None:
    jids = {Job.new("W").jid for _ in range(2000)}
    assert len(jids) == 2000
    assert all(re.fullmatch(r"[0-9a-f]{24}", jid or "") for jid in jids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: its first jid must not be the parent's next one
        os.write(write, (Job.new("W").jid or "").encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    assert re.fullmatch(r"[0-9a-f]{24}", child)
    assert child != Job.new("W").jid


def test_bulk_jids_are_the_same_shape_and_unique() -> None:
    from verk_compat.codec.jid import new_jids

    jids = new_jids(1000)
    assert len(set(jids)) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{24}", jid) for jid in jids)


def test_key_tables_agree_with_the_struct() -> None:
    """Every list of known keys is the msgspec struct's, in its order."""
    import msgspec

    from verk_compat.codec import _schema
    from verk_compat.codec._encode import _RANK

    fields = msgspec.structs.fields(_schema.Wire)
    assert tuple(f.encode_name for f in fields) == _schema.ALL_KEYS
    assert list(_schema.NAME_TO_KEY) == [f.name for f in fields]
    assert set(_schema.PUBLIC_TYPES) == {f.name for f in fields} - {"args"}
    assert set(_schema.NAME_TO_KEY) >= _schema.TIMESTAMPS
    assert list(_RANK) == [f.name for f in fields]
    assert all(hasattr(Job, f.name) for f in fields)  # each key is a typed attribute of Job
