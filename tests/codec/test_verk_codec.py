"""Verk 1.7.3 payloads as recorded from real Verk: read, re-encoded byte for byte, written anew."""

from __future__ import annotations

import json

import pytest

from tests.support.verk_dump import dump, members, payloads, performed
from verk_compat.codec.job import Job
from verk_compat.codec.read import decode_any
from verk_compat.codec.verk import VerkJob, encode_args, is_verk, normalize_cjson
from verk_compat.errors import InvalidJob

PAYLOADS = payloads()
#: Python-written Sidekiq jobs Verk moved with its Lua (cjson): {} for empty arrays, \/ escapes.
CJSON = (
    b'{"jid":"0123456789abcdef01234567","args":{},"queue":"default","tags":{},'
    b'"class":"A\\/B","retry":false,"created_at":1795885411.6921,"enqueued_at":1795885412}'
)


@pytest.mark.parametrize(("where", "raw"), PAYLOADS, ids=[str(i) for i in range(len(PAYLOADS))])
def test_every_recorded_payload_decodes_and_reencodes_exactly(where: list[str], raw: bytes) -> None:
    job = decode_any(raw)
    assert isinstance(job, VerkJob)
    assert job.encode() == raw
    assert job.args == json.loads(json.loads(raw)["args"])
    assert encode_args(job.args) == json.loads(raw)["args"]


def test_args_equal_what_verks_workers_received() -> None:
    by_jid = {VerkJob.decode(raw).jid: VerkJob.decode(raw) for _, raw in PAYLOADS}
    for record in performed():
        job = by_jid.get(record["jid"])
        if job is not None:
            assert job.args == record["args"], record["jid"]


def test_a_job_built_from_its_fields_encodes_as_verk_enqueue_wrote_it() -> None:
    for where, raw in PAYLOADS:
        if where[0] != "01:queue:default":
            continue
        seen = VerkJob.decode(raw)
        fresh = VerkJob(
            seen.class_name,
            json.loads(json.loads(raw)["args"]),
            jid=seen.jid,
            queue=seen.queue,
            max_retry_count=seen.max_retry_count,
            enqueued_at=seen.enqueued_at,
        )
        assert fresh.encode() == raw


def test_changed_verk_job_keeps_untouched_tokens_and_verk_key_order() -> None:
    raw = next(raw for where, raw in PAYLOADS if where == ["04:queue:default"])  # cjson order
    job = VerkJob.decode(raw)
    job.retry_count += 1
    out = job.encode()
    assert list(json.loads(out)) == sorted(json.loads(raw))
    assert json.loads(out)["retry_count"] == job.retry_count
    assert b'"args":"' in out


def test_python_job_rewritten_by_verk_keeps_float_timestamps() -> None:
    raw = (
        b'{"args":"[\\"default\\",3]","class":"FailWorker","created_at":1795885411.6911333,'
        b'"enqueued_at":1795885411.6911669,"error_backtrace":"\\n","error_message":"boom",'
        b'"failed_at":1795885412,"finished_at":null,"jid":"79f03e78d6538d2e8774c828",'
        b'"max_retry_count":null,"queue":"default","retried_at":null,"retry_count":1}'
    )
    job = VerkJob.decode(raw)
    assert is_verk(raw) and job.max_retries == 25
    job.error_message = "again"
    assert b'"created_at":1795885411.6911333' in job.encode()


def test_cjson_empty_arrays_read_as_lists() -> None:
    job = Job.decode(CJSON)
    assert job.args == [] and job.tags == [] and job.retry is False
    assert job.raw == CJSON
    out = json.loads(job.encode())
    assert out["args"] == [] and out["tags"] == [] and out["class"] == "A/B"
    assert normalize_cjson(b'{"class":"A","args":[]}') is None
    with pytest.raises(InvalidJob):
        Job.decode(b'{"class":"A","args":{"a":1}}')


def test_decode_verk1_reads_ms_timestamps_as_ms() -> None:
    # A sidekiq8-profile job that failed in Verk: ms created_at beside Verk's seconds.
    raw = (
        b'{"args":"[7,8]","class":"MyWorker","created_at":1795885411673,'
        b'"enqueued_at":1795885411673,"error_backtrace":"\\n","error_message":"x",'
        b'"failed_at":1795885412,"finished_at":null,"jid":"c9f8d18c33587daf40a10bee",'
        b'"max_retry_count":null,"queue":"default","retried_at":null,"retry_count":1}'
    )
    job = Job.decode_verk1(raw)
    assert job.created_at == pytest.approx(1795885411.673)
    assert job.failed_at == 1795885412.0


def test_decode_verk1_keeps_sidekiq_retry_and_tags() -> None:
    for retry in (b"false", b"5"):
        raw = (
            b'{"retry":' + retry + b',"queue":"default","max_retry_count":0,"tags":["t1"],'
            b'"class":"W","args":["a"],"jid":"f924da65513a73b901a230a5"}'
        )
        job = Job.decode_verk1(raw)
        assert job.retry == json.loads(retry) and job.tags == ["t1"]
    cjson = Job.decode_verk1(CJSON)
    assert cjson.retry is False and cjson.tags == []


@pytest.mark.parametrize(
    "name",
    [
        "01-enqueued.json",
        "04-retry-requeued.json",
        "06-killed-node.json",
        "python/01-python-enqueued.json",
        "python/02-after-verk-ran-python-jobs.json",
        "migrate/04-state-after-migrate.json",
    ],
)
def test_every_recorded_job_reads_through_one_entry_point(name: str) -> None:
    data = dump(name)
    for key, entry in data.items():
        if entry["type"] not in ("list", "zset") or key.startswith("verk:"):
            continue
        for raw in members(data, key):
            job = decode_any(raw)
            assert isinstance(job, VerkJob) == is_verk(raw)
            if isinstance(job, VerkJob):
                assert job.encode() == raw, (key, raw)
            else:  # a Sidekiq job, under its own profile (integer ms: sidekiq8)
                assert raw in (job.encode(), job.encode("sidekiq8")), (key, raw)
