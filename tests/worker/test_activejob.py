"""ActiveJob wrapper payloads run in the handler registered under their Rails class."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from tests.support.replies import zmembers, zscored
from verk_compat.cli import main
from verk_compat.codec.activejob import NEW_WRAPPER, OLD_WRAPPER, Symbol, display_class
from verk_compat.codec.job import Job, now
from verk_compat.errors import UnknownJob, UnsupportedArgument
from verk_compat.keys import Keys
from verk_compat.worker.activejob import (
    ActiveJobInfo,
    current_job,
    is_active_job,
    resolve_active_job,
)
from verk_compat.worker.app import App
from verk_compat.worker.events import JobFailed, JobStarted
from verk_compat.worker.launcher import Worker
from verk_compat.worker.retry import Retry, next_attempt

K = Keys()
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def recorded(version: str) -> bytes:
    raw: str = json.loads((FIXTURES / version / "activejob.json").read_text())["raw"]
    return raw.encode()


def wrapper_payload(arguments: list[Any], wrapper: str = OLD_WRAPPER, **data: Any) -> bytes:
    job_data = {
        "job_class": "MyJob", "job_id": "4c2b6b1e-0000-4000-8000-000000000001",
        "provider_job_id": None, "queue_name": "default", "priority": None,
        "arguments": arguments, "executions": 0, "exception_executions": {}, "locale": "en",
        "timezone": "UTC", "enqueued_at": "2026-11-28T00:00:00Z", **data,
    }  # fmt: skip
    payload = {
        "retry": True, "queue": "default", "class": wrapper, "wrapped": "MyJob",
        "args": [job_data], "jid": "0123456789abcdef01234567", "created_at": 1.0,
        "enqueued_at": 1.0,
    }  # fmt: skip
    return json.dumps(payload).encode()


KW = {"_aj_ruby2_keywords": ["kw"], "kw": 2}
SYM = {"_aj_serialized": "ActiveJob::Serializers::SymbolSerializer", "value": "sym"}


@pytest.mark.parametrize("wrapper", [OLD_WRAPPER, NEW_WRAPPER])
def test_resolution_looks_through_either_wrapper(wrapper: str) -> None:
    app = App()
    seen: list[Any] = []

    @app.job("MyJob")
    def my_job(*args: Any, **kwargs: Any) -> None:
        seen.append((args, kwargs, current_job()))

    job = Job.decode(wrapper_payload([1, {"a": 1, "_aj_symbol_keys": ["a"]}, SYM, KW], wrapper))
    assert display_class(job) == "MyJob"
    resolved = resolve_active_job(app, job)
    assert resolved.spec.name == "MyJob" and not resolved.is_async
    resolved.call(*job.args)
    ((args, kwargs, info),) = seen
    assert args == (1, {Symbol("a"): 1}, Symbol("sym")) and kwargs == {"kw": 2}
    assert isinstance(info, ActiveJobInfo)
    assert (info.job_class, info.jid, info.executions, info.locale, info.timezone) == (
        "MyJob", "0123456789abcdef01234567", 1, "en", "UTC",
    )  # fmt: skip
    assert info.job_id == "4c2b6b1e-0000-4000-8000-000000000001"
    with pytest.raises(LookupError):
        current_job()  # reset once the handler returned


def test_async_handler_and_class_handler() -> None:
    app = App()
    seen: list[Any] = []

    @app.job("MyJob")
    async def my_job(n: int, *, kw: int) -> None:
        seen.append((n, kw, current_job().job_class))

    @app.job("OtherJob")
    class OtherJob:
        def perform(self, n: int) -> None:
            seen.append(("other", n))

    resolved = resolve_active_job(app, Job.decode(wrapper_payload([7, KW])))
    assert resolved.is_async
    asyncio.run(resolved.call(*Job.decode(wrapper_payload([7, KW])).args))
    other = Job.decode(wrapper_payload([8], job_class="OtherJob"))
    resolve_active_job(app, other).call(*other.args)
    assert seen == [(7, 2, "MyJob"), ("other", 8)]


def test_unregistered_rails_class_is_unknown() -> None:
    with pytest.raises(UnknownJob, match="MyJob"):
        resolve_active_job(App(), Job.decode(wrapper_payload([])))


def test_undecodable_argument_names_the_value() -> None:
    app = App()
    app.register("MyJob", lambda *a: None)
    job = Job.decode(wrapper_payload([1, {"_aj_serialized": "MyCustomSerializer", "x": 1}]))
    with pytest.raises(UnsupportedArgument, match=r"arguments\[1\].*MyCustomSerializer"):
        resolve_active_job(app, job).call(*job.args)


def test_a_registered_wrapper_is_not_looked_through() -> None:
    app = App()
    app.register(OLD_WRAPPER, lambda data: None)
    app.register("MyJob", lambda *a: None)
    assert not is_active_job(app, Job.decode(wrapper_payload([1])))
    assert is_active_job(App(), Job.decode(wrapper_payload([1], NEW_WRAPPER)))


async def run_until(worker: Worker, done: Any, timeout: float = 20) -> None:
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(timeout):
            while not done():
                await asyncio.sleep(0.05)
    finally:
        worker.stop()
        await task
        await worker.aclose()


def fast_worker(app: App, redis_url: str) -> Worker:
    return Worker(
        app, {"default": 2}, redis_url=redis_url, poll_interval=0.2, block_timeout=0.2,
        beat_interval=0.5,
    )  # fmt: skip


@pytest.mark.parametrize("version", ["sidekiq-6.4.1", "sidekiq-7.3.10"])
async def test_recorded_rails_payload_runs_by_rails_name(
    r: redis.Redis, redis_url: str, version: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = App()
    seen: list[Any] = []
    started: list[str] = []
    app.events.subscribe(lambda e: started.append(e.class_name) if isinstance(e, JobStarted) else 0)

    @app.job("InteropActiveJob")
    def interop(*args: Any) -> None:
        seen.append((list(args), current_job().locale))

    r.lpush(K.queue("default"), recorded(version))
    with caplog.at_level(logging.INFO, logger="verk_compat.worker.processor"):
        await run_until(fast_worker(app, redis_url), lambda: bool(seen))
    assert seen == [([1, "two", {"three": 3.0, "sym": Symbol("four")}, [None, True]], "en")]
    assert isinstance(seen[0][0][2]["sym"], Symbol)
    assert started == ["InteropActiveJob"]
    lines = [rec.getMessage() for rec in caplog.records if rec.getMessage().startswith("start")]
    assert lines and "class=InteropActiveJob" in lines[0]


async def test_unmappable_argument_fails_into_retry_naming_value_and_rails_class(
    r: redis.Redis, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = App()
    failed: list[JobFailed] = []
    app.events.subscribe(lambda e: failed.append(e) if isinstance(e, JobFailed) else 0)
    app.register("MyJob", lambda *a: None)
    bad = {"_aj_serialized": "ActiveJob::Serializers::MoneySerializer", "cents": 5}
    r.lpush(K.queue("default"), wrapper_payload(["ok", bad]))
    with caplog.at_level(logging.WARNING, logger="verk_compat.worker.processor"):
        await run_until(fast_worker(app, redis_url), lambda: r.zcard(K.retry) == 1)
    (member,) = zmembers(r, K.retry)
    entry = json.loads(member)
    assert entry["class"] == OLD_WRAPPER and entry["wrapped"] == "MyJob"
    assert entry["error_class"] == "verk_compat.errors.UnsupportedArgument"
    assert "arguments[1]" in entry["error_message"] and "MoneySerializer" in entry["error_message"]
    assert entry["args"][0]["arguments"][1] == bad  # kept as Rails wrote it
    assert [f.class_name for f in failed] == ["MyJob"]
    assert any("class=MyJob" in rec.getMessage() for rec in caplog.records)


async def test_retry_in_of_the_rails_class_registration_applies(
    r: redis.Redis, redis_url: str
) -> None:
    app = App()
    calls: list[str] = []

    def later(count: int, exc: BaseException, job: Job) -> int:
        calls.append(type(exc).__name__)
        return 5000

    @app.job("MyJob", retry_in=later)
    def my_job(*args: Any) -> None:
        raise RuntimeError("no")

    r.lpush(K.queue("default"), wrapper_payload([1]))
    await run_until(fast_worker(app, redis_url), lambda: r.zcard(K.retry) == 1)
    ((_, score),) = zscored(r, K.retry)
    assert calls == ["RuntimeError"] and score > time.time() + 4000


@pytest.mark.parametrize("job_data", [{"job_class": "MyJob"}, "MyJob"])
def test_job_data_without_arguments_is_an_error_not_an_empty_call(job_data: Any) -> None:
    app = App()
    calls: list[Any] = []
    app.register("MyJob", lambda *a: calls.append(a))
    payload = json.loads(wrapper_payload([]))
    payload["args"] = [job_data]
    job = Job.decode(json.dumps(payload).encode())
    with pytest.raises(UnsupportedArgument, match=r"not a JSON array|not a serialized job hash"):
        resolve_active_job(app, job).call(*job.args)
    assert calls == []


def test_cli_retry_list_shows_the_rails_class(r: redis.Redis, redis_url: str) -> None:
    job = Job.decode(wrapper_payload([1]))
    decision = next_attempt(job, KeyError("k"), queue="default", now=now(), rng=random.Random())
    assert isinstance(decision, Retry)
    r.zadd(K.retry, {decision.payload.encode(): decision.at})
    result = CliRunner().invoke(main, ["retries", "list", "--redis-url", redis_url])
    assert result.exit_code == 0, result.output
    assert "MyJob" in result.output and "JobWrapper" not in result.output
