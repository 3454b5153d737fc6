"""Typed job handles: ``@app.job("HardWorker")`` returns one that still is the function and
pushes itself, checked against the signature and carrying the registered options."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest
import redis

from tests.support.payloads import queue_payloads
from tests.support.replies import zmembers
from verk_compat.client.async_client import AsyncClient
from verk_compat.client.client import Client
from verk_compat.devtools.testing import FakeClient
from verk_compat.worker.app import App
from verk_compat.worker.job_ref import JobRef


def make_app() -> tuple[App, Any, Any, Any]:
    app = App()

    @app.job("HardWorker", queue="critical", retry=3, retry_queue="low", backtrace=5, dead=False)
    def hard_worker(n: int, name: str) -> str:
        return f"{n}-{name}"

    @app.job("Defaults")
    def defaults(a: int, b: int = 2, c: int = 3, *rest: int) -> None:
        pass

    @app.job("Shapes")
    def shapes(value: Any, *, flag: bool = False, **more: Any) -> None:
        pass

    return app, hard_worker, defaults, shapes


def test_the_handle_is_still_the_function() -> None:
    app, hard_worker, _, _ = make_app()
    assert isinstance(hard_worker, JobRef)
    assert hard_worker(1, "two") == "1-two"
    assert hard_worker.__name__ == "hard_worker"
    spec = app.spec("HardWorker")
    assert spec is not None and spec.target is hard_worker.fn  # the worker runs the function
    assert app.resolve("HardWorker").call(2, "x") == "2-x"


def test_enqueue_writes_the_registered_options(redis_url: str, r: redis.Redis) -> None:
    app, hard_worker, _, _ = make_app()
    with Client(redis_url) as client:
        app.client = client
        jid = hard_worker.enqueue(1, "two")
    (payload,) = queue_payloads(r, "queue:critical")
    assert payload["jid"] == jid
    assert (payload["class"], payload["args"]) == ("HardWorker", [1, "two"])
    assert (payload["retry"], payload["retry_queue"], payload["dead"]) == (3, "low", False)
    assert payload["backtrace"] == 5


def test_plain_registration_writes_what_a_plain_enqueue_writes(
    redis_url: str, r: redis.Redis
) -> None:
    app = App()

    @app.job("Plain")
    def plain(x: int) -> None:
        pass

    with Client(redis_url) as client:
        app.client = client
        plain.enqueue(1)
        client.enqueue("Plain", [1])
    typed, untyped = (json.loads(raw) for raw in r.lrange("queue:default", 0, -1))
    assert list(typed) == list(untyped)  # same keys in the same order
    assert {k: v for k, v in typed.items() if k not in ("jid", "created_at", "enqueued_at")} == {
        k: v for k, v in untyped.items() if k not in ("jid", "created_at", "enqueued_at")
    }


def test_keywords_travel_in_their_position(redis_url: str, r: redis.Redis) -> None:
    app, _, defaults, _ = make_app()
    with Client(redis_url) as client:
        app.client = client
        defaults.enqueue(1)
        defaults.enqueue(1, c=5)  # b skipped: its default is written out
        defaults.enqueue(a=7, b=8)
        defaults.enqueue(1, 2, 3, 4, 5)
    pushed = [p["args"] for p in queue_payloads(r)]
    assert pushed == [[1], [1, 2, 5], [7, 8], [1, 2, 3, 4, 5]]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda h, d, s: h.enqueue(1), "missing a required argument: 'name'"),
        (lambda h, d, s: h.enqueue(1, "x", 3), "too many positional arguments"),
        (lambda h, d, s: h.enqueue(1, name="x", nmae="y"), "unexpected keyword argument 'nmae'"),
        (lambda h, d, s: s.enqueue(1, flag=True), "keyword-only argument 'flag'"),
        (lambda h, d, s: s.enqueue(1, other=2), "keyword-only argument 'more'"),
        (lambda h, d, s: s.enqueue((1, 2)), "tuple does not survive JSON"),
        (lambda h, d, s: s.enqueue({1, 2}), "set does not survive JSON"),
        (lambda h, d, s: s.enqueue(dt.datetime(2026, 1, 1)), "datetime does not survive"),
        (lambda h, d, s: s.enqueue({"a": [{1: "x"}]}), r"\['a'\]\[0\]: dict key 1"),
        (lambda h, d, s: s.enqueue(b"raw"), "bytes does not survive"),
        (lambda h, d, s: s.enqueue_many([[1], [(1,)]]), "tuple does not survive"),
        (lambda h, d, s: h.enqueue_in(60, 1), "missing a required argument"),
    ],
)
def test_calls_that_cannot_round_trip_are_refused_before_writing(
    call: Any, match: str, redis_url: str, r: redis.Redis
) -> None:
    app, hard_worker, defaults, shapes = make_app()
    with Client(redis_url) as client:
        app.client = client
        with pytest.raises(TypeError, match=match):
            call(hard_worker, defaults, shapes)
    assert r.dbsize() == 0


def test_no_client_is_a_clear_error() -> None:
    _, hard_worker, _, _ = make_app()
    with pytest.raises(RuntimeError, match=r"app.client = Client"):
        hard_worker.enqueue(1, "two")


async def test_an_async_app_client_is_refused_with_the_way_out(redis_url: str) -> None:
    app, hard_worker, _, _ = make_app()
    async with AsyncClient(redis_url) as client:
        app.client = client  # type: ignore[assignment]
        with pytest.raises(TypeError, match=r"await hard_worker.using\(client\)"):
            hard_worker.enqueue(1, "two")


def test_schedule_enqueue_in_many_and_set(redis_url: str, r: redis.Redis) -> None:
    app, hard_worker, _, _ = make_app()
    with Client(redis_url) as client:
        app.client = client
        hard_worker.enqueue_in(60, 1, "a")
        hard_worker.schedule(time.time() + 120, 2, "b")
        jids = hard_worker.enqueue_many([[3, "c"], (4, "d")])
        hard_worker.set(queue="other", retry=False).enqueue(5, "e")
    scheduled = [json.loads(m) for m in zmembers(r, "schedule")]
    assert [(p["args"], p["queue"], p["retry"]) for p in scheduled] == [
        ([1, "a"], "critical", 3),
        ([2, "b"], "critical", 3),
    ]
    assert sorted(p["jid"] for p in queue_payloads(r, "queue:critical")) == sorted(jids)
    (other,) = queue_payloads(r, "queue:other")
    assert (other["args"], other["retry"], other["retry_queue"]) == ([5, "e"], False, "low")


async def test_using_an_async_client(redis_url: str, r: redis.Redis) -> None:
    _, hard_worker, _, _ = make_app()
    async with AsyncClient(redis_url) as client:
        jid = await hard_worker.using(client).enqueue(1, "two")
        await hard_worker.using(client).enqueue_in(30, 2, "three")
    (payload,) = queue_payloads(r, "queue:critical")
    assert (payload["jid"], payload["args"], payload["retry"]) == (jid, [1, "two"], 3)
    assert r.zcard("schedule") == 1


def test_using_the_fake_client_and_draining_runs_the_function() -> None:
    app = App()
    seen: list[int] = []

    @app.job("Collect")
    async def collect(n: int) -> None:
        seen.append(n)

    fake = FakeClient(app)
    collect.using(fake).enqueue(7)
    app.client = fake
    collect.enqueue(8)
    assert fake.drain() == 2
    assert seen == [7, 8]
