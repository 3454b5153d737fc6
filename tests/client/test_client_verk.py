"""``target="verk"``: the client writes what ``Verk.enqueue`` and ``Verk.schedule`` write."""

from __future__ import annotations

import json
import re
import time

import pytest
import redis

from tests.support.replies import zscored
from tests.support.verk_dump import load, members
from verk_compat.client.async_client import AsyncClient
from verk_compat.client.client import Client
from verk_compat.codec.verk import VERK_KEYS, VerkJob
from verk_compat.errors import InvalidJob
from verk_compat.keys import Keys

K = Keys()


def recorded(r: redis.Redis) -> tuple[list[bytes], list[bytes]]:
    data = load(r, "01-enqueued.json")
    r.flushdb()
    return members(data, "queue:default"), members(data, "schedule")


def test_enqueue_reproduces_verk_enqueue_payloads(r: redis.Redis, redis_url: str) -> None:
    enqueued, _ = recorded(r)
    with Client(redis_url, target="verk") as client:
        for raw in reversed(enqueued):  # oldest first, as Verk pushed them
            seen = VerkJob.decode(raw)
            retry = seen.max_retry_count if seen.max_retry_count is not None else True
            jid = client.enqueue(seen.class_name, seen.args, jid=seen.jid, retry=retry)
            assert jid == seen.jid
    written = r.lrange(K.queue("default"), 0, -1)
    assert not r.exists(K.queues)  # Verk writes no queues set
    assert len(written) == len(enqueued)
    for mine, theirs in zip(written, enqueued, strict=True):
        job = VerkJob.decode(mine)
        assert isinstance(job.enqueued_at, int) and abs(job.enqueued_at - time.time()) < 5
        job.enqueued_at = VerkJob.decode(theirs).enqueued_at
        assert job.encode() == theirs  # byte for byte but for the time


def test_defaults_jid_and_retry(redis_url: str, r: redis.Redis) -> None:
    with Client(redis_url, target="verk") as client:
        jid = client.enqueue("MyWorker", [1, 2])
        client.enqueue("MyWorker", [3], retry=False, queue="other")
        client.enqueue("MyWorker", [4], retry=5, queue="five")
        client.enqueue_many("MyWorker", [[5], [6]], queue="bulk")
    assert re.fullmatch(r"\d{2,20}", jid)
    [raw] = r.lrange(K.queue("default"), 0, -1)
    assert list(json.loads(raw)) == list(VERK_KEYS)
    job = VerkJob.decode(raw)
    assert (job.jid, job.max_retry_count, job.retry_count, job.created_at) == (jid, 25, 0, None)
    assert json.loads(raw)["args"] == "[1,2]"
    assert VerkJob.decode(r.lindex(K.queue("other"), 0) or b"").max_retry_count == 0
    assert VerkJob.decode(r.lindex(K.queue("five"), 0) or b"").max_retry_count == 5
    bulk = [VerkJob.decode(m) for m in r.lrange(K.queue("bulk"), 0, -1)]
    assert sorted(j.args for j in bulk) == [[5], [6]] and all((j.jid or "").isdigit() for j in bulk)


def test_schedule_has_verk_schedule_shape(redis_url: str, r: redis.Redis) -> None:
    _, scheduled = recorded(r)
    theirs = VerkJob.decode(scheduled[0])
    with Client(redis_url, target="verk") as client:
        client.enqueue_in(3600, "MyWorker", theirs.args, jid=theirs.jid)
        client.enqueue_in(3600, "MyWorker", [9], retry=3, jid="j2")
    entries = dict(zscored(r, K.schedule))
    assert scheduled[0] in entries  # exactly Verk.schedule's bytes
    assert all(float(score).is_integer() for score in entries.values())
    assert VerkJob.decode(next(m for m in entries if m != scheduled[0])).max_retry_count == 3


def test_sidekiq_only_options_are_refused(redis_url: str, r: redis.Redis) -> None:
    with Client(redis_url, target="verk") as client:
        with pytest.raises(InvalidJob, match="tags"):
            client.enqueue("MyWorker", [1], tags=["a"])
        with pytest.raises(InvalidJob, match="backtrace"):
            client.enqueue("MyWorker", [1], backtrace=5)
    assert r.dbsize() == 0


async def test_async_client_writes_the_same(redis_url: str, r: redis.Redis) -> None:
    async with AsyncClient(redis_url, target="verk") as client:
        jid = await client.enqueue("MyWorker", [1.5, "x"], jid="7")
    raw = r.lindex(K.queue("default"), 0) or b""
    assert jid == "7" and json.loads(raw)["args"] == '[1.5,"x"]'
    assert list(json.loads(raw)) == list(VERK_KEYS)


def test_cli_enqueue_verk(redis_url: str, r: redis.Redis) -> None:
    from click.testing import CliRunner

    from verk_compat.cli import main

    out = CliRunner().invoke(
        main, ["enqueue", "MyWorker", "[1, 2]", "--verk", "--retry", "3", "--redis-url", redis_url]
    )
    assert out.exit_code == 0, out.output
    job = VerkJob.decode(r.lindex(K.queue("default"), 0) or b"")
    assert (job.jid, job.args, job.max_retry_count) == (out.output.strip(), [1, 2], 3)
