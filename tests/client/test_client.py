"""The sync Client against a real Redis: payloads, keys, batches, schedule, targets, profiles."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from typing import Any

import pytest
import redis

from tests.support.payloads import queue_payloads, same, schedule_entries
from verk_compat.client.client import Client
from verk_compat.client.options import OPTION_NAMES
from verk_compat.client.planner import Planner
from verk_compat.codec.job import Job
from verk_compat.codec.timestamps import score
from verk_compat.errors import InvalidJob, VerkError

HEX24 = re.compile(r"^[0-9a-f]{24}$")


@pytest.fixture
def client(redis_url: str) -> Any:
    with Client(redis_url) as c:
        yield c


def test_enqueue_writes_sidekiq_defaults(client: Client, r: redis.Redis) -> None:
    before = time.time()
    jid = client.enqueue("HardWorker", [1, "two", 3.0])
    after = time.time()
    assert HEX24.match(jid)
    (raw,) = r.lrange("queue:default", 0, -1)
    payload = json.loads(raw)
    assert set(payload) == {
        "retry", "queue", "class", "args", "jid", "created_at", "enqueued_at",
    }  # fmt: skip
    assert payload["retry"] is True
    assert payload["queue"] == "default"
    assert payload["class"] == "HardWorker"
    same(payload["args"], [1, "two", 3.0])
    assert payload["jid"] == jid
    assert isinstance(payload["created_at"], float)
    assert before <= payload["created_at"] <= payload["enqueued_at"] <= after
    assert b", " not in raw and b": " not in raw  # compact, as JSON.generate
    assert r.smembers("queues") == {b"default"}
    assert sorted(r.keys()) == [b"queue:default", b"queues"]


def test_payload_keys_match_ruby_fixture(client: Client, r: redis.Redis) -> None:
    recorded = json.loads(
        '{"retry":true,"queue":"default","args":[1,"two",3.0],"class":"FixtureWorker",'
        '"jid":"1ed9d37be2ab5cbf0986f852","created_at":1795781349.5288923,'
        '"enqueued_at":1795781349.5290923}'
    )
    client.enqueue("FixtureWorker", [1, "two", 3.0])
    (payload,) = queue_payloads(r)
    assert set(payload) == set(recorded)
    for key in recorded:
        assert type(payload[key]) is type(recorded[key]), key


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"queue": "critical"}, {"queue": "critical"}),
        ({"retry": False}, {"retry": False}),
        ({"retry": 3}, {"retry": 3}),
        ({"retry": 0}, {"retry": 0}),
        ({"backtrace": True}, {"backtrace": True}),
        ({"backtrace": 10}, {"backtrace": 10}),
        ({"retry_queue": "low", "dead": False}, {"retry_queue": "low", "dead": False}),
        ({"retry_for": 3600}, {"retry_for": 3600}),
        ({"tags": ["a", "b"]}, {"tags": ["a", "b"]}),
        (
            {"custom_key": {"x": [1, 2.5, None]}, "wrapped": "Real"},
            {"custom_key": {"x": [1, 2.5, None]}, "wrapped": "Real"},
        ),
    ],
)
def test_enqueue_options(
    client: Client, r: redis.Redis, options: dict[str, Any], expected: dict[str, Any]
) -> None:
    named = {k: v for k, v in options.items() if k in OPTION_NAMES or k in ("queue", "retry")}
    extra = {k: v for k, v in options.items() if k not in named}
    jid = client.enqueue("HardWorker", ["x"], extra=extra, **named)
    queue = options.get("queue", "default")
    (payload,) = queue_payloads(r, f"queue:{queue}")
    assert payload["jid"] == jid
    for key, value in expected.items():
        same(payload[key], value, key)
    assert r.smembers("queues") == {queue.encode()}


def test_caller_jid_and_created_at_are_kept(client: Client, r: redis.Redis) -> None:
    jid = client.enqueue("W", [], jid="a1b2c3d4e5f6a1b2c3d4e5f6", created_at=1700000000.123456)
    (payload,) = queue_payloads(r)
    assert jid == payload["jid"] == "a1b2c3d4e5f6a1b2c3d4e5f6"
    same(payload["created_at"], 1700000000.123456)
    assert payload["enqueued_at"] > 1700000000.123456


def test_jobs_are_pushed_on_the_left(client: Client, r: redis.Redis) -> None:
    first = client.enqueue("W", [1])
    second = client.enqueue("W", [2])
    assert [p["jid"] for p in queue_payloads(r)] == [first, second]


def test_enqueue_many_batches(redis_url: str, r: redis.Redis) -> None:
    with Client(redis_url, batch_size=1000) as client:
        jids = client.enqueue_many("W", ([i] for i in range(2500)), queue="bulk", retry=2)
    assert len(jids) == len(set(jids)) == 2500
    payloads = queue_payloads(r, "queue:bulk")
    assert [p["jid"] for p in payloads] == jids  # the first pushed runs first
    assert [p["args"] for p in payloads] == [[i] for i in range(2500)]
    assert {p["retry"] for p in payloads} == {2}
    batches = [payloads[0:1000], payloads[1000:2000], payloads[2000:]]
    created = [{p["created_at"] for p in batch} for batch in batches]
    enqueued = [{p["enqueued_at"] for p in batch} for batch in batches]
    assert all(len(c) == 1 for c in created + enqueued)
    assert len(set.union(*created)) == 3
    assert r.smembers("queues") == {b"bulk"}


def test_enqueue_many_validates_everything_first(client: Client, r: redis.Redis) -> None:
    many: list[list[Any]] = [[i] for i in range(1500)]
    many.append([{1, 2}])
    with pytest.raises(InvalidJob):
        client.enqueue_many("W", many)
    assert r.dbsize() == 0


def test_enqueue_many_edge_cases(client: Client, r: redis.Redis) -> None:
    assert client.enqueue_many("W", []) == []
    assert r.dbsize() == 0
    with pytest.raises(TypeError, match="jid"):
        client.enqueue_many("W", [[1]], jid="abc")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "bad",
    [
        [{1, 2}],
        [object()],
        [{"a": b"bytes"}],
        [{1: "int key"}],
        [float("nan")],
        [float("inf")],
        [dt.datetime(2020, 1, 1)],
    ],
    ids=["set", "object", "bytes", "int-key", "nan", "inf", "datetime"],
)
def test_strict_args_refused_before_writing(client: Client, r: redis.Redis, bad: Any) -> None:
    with pytest.raises(InvalidJob, match=r"args"):
        client.enqueue("W", bad)
    with pytest.raises(InvalidJob):
        client.schedule("W", bad, at=time.time() + 60)
    assert r.dbsize() == 0


@pytest.mark.parametrize("class_name", ["", None, 5])
def test_bad_class_is_refused(client: Client, r: redis.Redis, class_name: Any) -> None:
    with pytest.raises(InvalidJob):
        client.enqueue(class_name, [])
    assert r.dbsize() == 0


def test_schedule_future(client: Client, r: redis.Redis) -> None:
    at = time.time() + 300.25
    jid = client.schedule("W", ["later"], at=at, queue="critical")
    ((payload, got),) = schedule_entries(r)
    assert got == at
    assert payload["jid"] == jid and payload["queue"] == "critical"
    assert "at" not in payload and "enqueued_at" not in payload
    assert isinstance(payload["created_at"], float)
    assert sorted(r.keys()) == [b"schedule"]  # no SADD queues for scheduled jobs


def test_two_jobs_scheduled_at_the_same_time(client: Client, r: redis.Redis) -> None:
    at = time.time() + 500
    client.schedule("W", [1], at=at)
    client.schedule("W", [2], at=at)  # same score: both members kept (distinct jids)
    assert r.zcard("schedule") == 2


def test_schedule_datetime_and_enqueue_in(client: Client, r: redis.Redis) -> None:
    when = dt.datetime(2100, 1, 1, 0, 0, 0, 500000, tzinfo=dt.UTC)
    client.schedule("W", [1], at=when)
    before = time.time()
    client.enqueue_in(60, "W", [2], retry=False)
    entries = {p["args"][0]: (p, s) for p, s in schedule_entries(r)}
    assert entries[1][1] == 4102444800.5
    assert before + 60 <= entries[2][1] <= time.time() + 60
    assert entries[2][0]["retry"] is False


def test_score_string_is_a_float_repr() -> None:
    assert score(4102444800.4999995) == "4102444800.4999995"
    assert score(4102444800) == "4102444800.0"
    job = Job.new("W", [])
    write = Planner.build(
        namespace=None, target="sidekiq", profile="sidekiq7", batch_size=1, middleware=()
    ).at(job, 4102444800.5)
    assert write.command == "ZADD" and write.key == "schedule"
    assert write.args[0] == "4102444800.5"


@pytest.mark.parametrize("offset", [-10.0, 0.0])
def test_schedule_in_the_past_enqueues_now(client: Client, r: redis.Redis, offset: float) -> None:
    jid = client.schedule("W", ["now"], at=time.time() + offset)
    client.enqueue_in(-5, "W", ["in"])
    payloads = queue_payloads(r)
    assert [p["args"] for p in payloads] == [["now"], ["in"]]
    assert payloads[0]["jid"] == jid
    assert all("enqueued_at" in p and "at" not in p for p in payloads)
    assert r.zcard("schedule") == 0
    assert r.smembers("queues") == {b"default"}


def test_profile_sidekiq8_writes_ms(redis_url: str, r: redis.Redis) -> None:
    before = time.time()
    with Client(redis_url, profile="sidekiq8") as client:
        client.enqueue("W", [1.5])
        client.enqueue_in(100, "W", [2])
    after = time.time()
    (raw,) = r.lrange("queue:default", 0, -1)
    payload = json.loads(raw)
    assert isinstance(payload["created_at"], int) and isinstance(payload["enqueued_at"], int)
    job = Job.decode(raw)
    assert job.created_at is not None and job.enqueued_at is not None
    assert before - 0.001 <= job.created_at <= job.enqueued_at <= after + 0.001
    same(job.args, [1.5])
    ((member, at),) = schedule_entries(r)
    assert isinstance(member["created_at"], int) and "enqueued_at" not in member
    assert before + 100 <= at <= after + 100  # scores stay float seconds in Sidekiq 8


def test_namespace(redis_url: str, r: redis.Redis) -> None:
    with Client(redis_url, namespace="myapp") as client:
        client.enqueue("W", [1])
        client.enqueue_in(60, "W", [2])
    assert sorted(r.keys()) == [b"myapp:queue:default", b"myapp:queues", b"myapp:schedule"]
    assert r.smembers("myapp:queues") == {b"default"}  # members are never prefixed
    assert json.loads(r.lindex("myapp:queue:default", 0) or b"")["queue"] == "default"


def test_resque_target(redis_url: str, r: redis.Redis) -> None:
    with Client(redis_url, target="resque") as client:
        client.enqueue("Archive", [1, "two"], queue="jobs")
        client.enqueue_many("Archive", [[3], [4]], queue="jobs")
        client.schedule("Archive", [5], at=time.time() - 1, queue="jobs")
        with pytest.raises(VerkError, match="Resque"):
            client.enqueue_in(60, "Archive", [6], queue="jobs")
    raws = r.lrange("resque:queue:jobs", 0, -1)  # RPUSH: oldest on the left
    assert [json.loads(x) for x in raws] == [
        {"class": "Archive", "args": [1, "two"]},
        {"class": "Archive", "args": [3]},
        {"class": "Archive", "args": [4]},
        {"class": "Archive", "args": [5]},
    ]
    assert raws[0] == b'{"class":"Archive","args":[1,"two"]}'
    assert r.smembers("resque:queues") == {b"jobs"}
    assert sorted(r.keys()) == [b"resque:queue:jobs", b"resque:queues"]


def test_resque_namespace(redis_url: str, r: redis.Redis) -> None:
    with Client(redis_url, target="resque", namespace="app") as client:
        client.enqueue("A", [])
    assert sorted(r.keys()) == [b"app:queue:default", b"app:queues"]


def test_middleware_can_change_the_job(redis_url: str, r: redis.Redis) -> None:
    def tag(job: Job) -> Job:
        return job.replace(tags=["from-middleware"])

    with Client(redis_url, middleware=[tag]) as client:
        client.enqueue("W", [1])
        with pytest.raises(InvalidJob):
            Client(redis=r, middleware=[lambda j: j.replace(args=[{1, 2}])]).enqueue("W", [2])
    (payload,) = queue_payloads(r)
    assert payload["tags"] == ["from-middleware"]


def test_reserved_option_names(client: Client, r: redis.Redis) -> None:
    later = time.time() + 60
    with pytest.raises(InvalidJob, match="schedule"):
        client.enqueue("W", [], at=later)  # type: ignore[call-arg]
    with pytest.raises(InvalidJob):
        client.enqueue_many("W", [[]], at=later)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        client.enqueue_in(60, "W", [], at=later)  # type: ignore[call-arg]
    with pytest.raises(InvalidJob, match="schedule"):
        client.enqueue("W", [], extra={"at": later})
    assert r.dbsize() == 0


def test_bad_construction() -> None:
    with pytest.raises(ValueError):
        Client("redis://127.0.0.1:1/0", target="sqs")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Client("redis://127.0.0.1:1/0", batch_size=0)
    with pytest.raises(ValueError, match="bad Redis URL"):
        Client("http://example.com")
    with pytest.raises(TypeError):
        Client("redis://127.0.0.1:1/0").schedule("W", [], at="tomorrow")  # type: ignore[arg-type]


@pytest.mark.parametrize("at", [float("nan"), float("inf"), float("-inf"), 10**400])
def test_schedule_refuses_a_time_that_is_not_finite(
    client: Client, r: redis.Redis, at: float
) -> None:
    # Issue 16 item 7: NaN reached ZADD (a Redis error), inf wrote a job that never runs.
    with pytest.raises(ValueError, match="finite time"):
        client.schedule("W", [1], at=at)
    with pytest.raises(ValueError, match="finite time"):
        client.enqueue_in(at, "W", [1])
    assert r.dbsize() == 0
