"""Testing mode: fake and inline clients without Redis, and the pytest plugin's fixtures."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from verk_compat.client.async_client import AsyncClient
from verk_compat.client.client import Client
from verk_compat.codec.job import Job
from verk_compat.devtools.testing import FakeAsyncClient, FakeClient, perform
from verk_compat.errors import InvalidJob, UnknownJob
from verk_compat.worker.app import App
from verk_compat.worker.middleware import JobContext, Next

ROOT = Path(__file__).resolve().parents[2]


def make_app(seen: list[Any]) -> App:
    app = App()

    @app.job("HardWorker")
    def hard(*args: Any) -> None:
        seen.append(("HardWorker", list(args)))

    @app.job("AsyncWorker")
    async def async_worker(n: int) -> None:
        seen.append(("AsyncWorker", [n]))

    @app.job("Billing")
    class Billing:
        def perform(self, n: int) -> None:
            seen.append(("Billing.perform", [n]))

        def refund(self, n: int) -> None:
            seen.append(("Billing.refund", [n]))

    @app.job("Boom")
    def boom() -> None:
        raise RuntimeError("boom")

    return app


def test_fake_records_the_bytes_a_client_writes() -> None:
    fake = FakeClient()
    jid = fake.enqueue("HardWorker", [1, "a"], queue="crit", jid="a" * 24, created_at=1.5)
    (raw,) = fake.payloads("crit")
    job = Job.decode(raw)
    expected = Job.new("HardWorker", [1, "a"], queue="crit", jid="a" * 24, created_at=1.5)
    assert raw == expected.replace(enqueued_at=job.enqueued_at).encode()
    assert jid == "a" * 24
    assert fake.writes[0].commands() == [("SADD", "queues", "crit"), ("LPUSH", "queue:crit", raw)]
    assert [j.args for j in fake.jobs("crit")] == [[1, "a"]]
    assert fake.queues == ["crit"]


def test_fake_payload_is_what_the_real_client_pushes(redis_url: str, r: redis.Redis) -> None:
    fake = FakeClient()
    fake.enqueue("HardWorker", [1, {"k": [2.5]}], queue="q", jid="b" * 24, created_at=2.0)
    with Client(redis_url) as client:
        client.enqueue("HardWorker", [1, {"k": [2.5]}], queue="q", jid="b" * 24, created_at=2.0)
    real = Job.decode(r.lindex("queue:q", 0))  # type: ignore[arg-type]
    (raw,) = fake.payloads("q")
    # Same bytes but for the moment of the push.
    assert Job.decode(raw).replace(enqueued_at=real.enqueued_at).encode() == real.encode()


def test_fake_refuses_what_the_client_refuses() -> None:
    fake = FakeClient()
    with pytest.raises(InvalidJob):
        fake.enqueue("HardWorker", [object()])
    with pytest.raises(InvalidJob):
        fake.enqueue("HardWorker", [{1: "non-string key"}])
    assert fake.writes == [] and fake.jobs() == []


def test_drain_runs_in_worker_order_and_follows_new_jobs() -> None:
    seen: list[Any] = []
    app = make_app(seen)
    fake = FakeClient(app)

    @app.job("Chain")
    def chain(n: int) -> None:
        seen.append(("Chain", [n]))
        if n:
            fake.enqueue("Chain", [n - 1])

    fake.enqueue_many("HardWorker", [[1], [2]])
    fake.enqueue("Billing", [3], queue="other", function="refund")
    fake.enqueue("Chain", [2])
    fake.enqueue_in(60, "AsyncWorker", [9])
    assert [at > 0 for at, _ in fake.scheduled()] == [True]
    assert fake.drain("default") == 5
    assert seen == [
        ("HardWorker", [1]),
        ("HardWorker", [2]),
        ("Chain", [2]),
        ("Chain", [1]),
        ("Chain", [0]),
    ]
    assert fake.drain() == 1 and seen[-1] == ("Billing.refund", [3])
    assert fake.drain(scheduled=True) == 1 and seen[-1] == ("AsyncWorker", [9])
    assert fake.jobs() == [] and fake.scheduled() == []


def test_clear() -> None:
    fake = FakeClient()
    fake.enqueue("A", [], queue="a")
    fake.enqueue("B", [], queue="b")
    fake.schedule("C", [], at=4_000_000_000)
    fake.clear("a")
    assert fake.queues == ["b"] and len(fake.scheduled()) == 1
    fake.clear()
    assert fake.queues == [] and fake.scheduled() == []


def test_inline_runs_through_middleware_and_raises() -> None:
    seen: list[Any] = []
    app = make_app(seen)

    async def tag(ctx: JobContext, call_next: Next) -> None:
        seen.append(("before", ctx.queue))
        await call_next()

    app.middleware.append(tag)
    fake = FakeClient(app, mode="inline")
    fake.enqueue("HardWorker", [1], queue="q")
    fake.enqueue("AsyncWorker", [2])
    fake.schedule("Billing", [3], at=4_000_000_000)
    assert seen == [
        ("before", "q"),
        ("HardWorker", [1]),
        ("before", "default"),
        ("AsyncWorker", [2]),
        ("before", "default"),
        ("Billing.perform", [3]),
    ]
    assert fake.jobs() == []
    with pytest.raises(RuntimeError, match="boom"):
        fake.enqueue("Boom")
    with pytest.raises(UnknownJob):
        fake.enqueue("os.system", ["true"])
    with pytest.raises(ValueError, match="needs the App"):
        FakeClient(mode="inline")


async def test_async_fake_inline_runs_on_the_callers_loop() -> None:
    seen: list[Any] = []
    app = make_app(seen)
    inline = FakeAsyncClient(app, mode="inline")
    await inline.enqueue("AsyncWorker", [1])
    await inline.enqueue_many("HardWorker", [[2], [3]])
    assert seen == [("AsyncWorker", [1]), ("HardWorker", [2]), ("HardWorker", [3])]
    fake = FakeAsyncClient()
    await fake.enqueue("AsyncWorker", [4])
    assert await fake.drain(app=app) == 1 and seen[-1] == ("AsyncWorker", [4])


async def test_sync_fake_drains_inside_a_running_loop() -> None:
    seen: list[Any] = []
    fake = FakeClient(make_app(seen))
    fake.enqueue("AsyncWorker", [5])
    assert fake.drain() == 1 and seen == [("AsyncWorker", [5])]


async def test_perform_runs_one_payload() -> None:
    seen: list[Any] = []
    await perform(make_app(seen), Job.new("HardWorker", [7]).encode())
    assert seen == [("HardWorker", [7])]


def test_plugin_fixtures(verk_fake: FakeClient, verk_redis_url: str) -> None:
    verk_fake.enqueue("HardWorker", [1])
    assert len(verk_fake.jobs("default")) == 1
    client = redis.Redis.from_url(verk_redis_url)
    try:
        assert client.dbsize() == 0
    finally:
        client.close()


def test_the_documented_example_test_passes() -> None:
    proc = subprocess.run(
        # addopts cleared: the plugin comes from its pytest11 entry point, as for a user.
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            "examples",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout


@pytest.mark.parametrize(("fake", "real"), [(FakeClient, Client), (FakeAsyncClient, AsyncClient)])
def test_fakes_have_the_client_api(fake: type, real: type) -> None:
    """Same public methods, same parameters: code written for a client takes the fake."""
    for name, method in inspect.getmembers(real, inspect.isfunction):
        if name.startswith("_") and name not in ("__enter__", "__exit__", "__aenter__"):
            continue
        assert hasattr(fake, name), f"{fake.__name__} lacks {name}"
        if name.startswith("_"):
            continue
        ours = list(inspect.signature(getattr(fake, name)).parameters.values())
        theirs = list(inspect.signature(method).parameters.values())
        assert [(p.name, p.kind) for p in ours] == [(p.name, p.kind) for p in theirs], name
