"""ActiveJob enqueue from Python: the payload Rails' Sidekiq adapter writes, per profile."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.replies import zscored
from verk_compat.client.activejob import AsyncRailsJob, RailsJob, plan
from verk_compat.client.client import Client
from verk_compat.codec.activejob import NEW_WRAPPER, OLD_WRAPPER, Symbol
from verk_compat.codec.job import Job
from verk_compat.devtools.testing import FakeAsyncClient, FakeClient
from verk_compat.errors import InvalidJob, UnsupportedArgument
from verk_compat.keys import Keys
from verk_compat.worker.activejob import current_job, resolve_active_job
from verk_compat.worker.app import App

K = Keys()
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
CLOCK = 1795781409.49


def recorded(name: str = "activejob") -> dict[str, Any]:
    raw: str = json.loads((FIXTURES / "sidekiq-6.4.1" / f"{name}.json").read_text())["raw"]
    payload: dict[str, Any] = json.loads(raw)
    return payload


def test_job_data_has_the_keys_and_order_rails_61_writes() -> None:
    rails = recorded()["args"][0]
    p = plan("InteropActiveJob", (1,), {}, profile="sidekiq6", clock=CLOCK)
    (data,) = p.args
    assert list(data) == list(rails)
    assert (p.wrapper, p.wrapped, p.queue, p.at) == (
        OLD_WRAPPER,
        "InteropActiveJob",
        "default",
        None,
    )
    assert data["enqueued_at"] == "2026-11-27T12:10:09Z"  # Rails 6.1: whole seconds, UTC
    assert data["executions"] == 0 and data["exception_executions"] == {}
    assert data["provider_job_id"] is None and data["job_id"] == p.job_id


def test_recorded_rails_arguments_are_what_python_writes() -> None:
    rails = recorded()["args"][0]["arguments"]
    args = (1, "two", {"three": 3.0, "sym": Symbol("four")}, [None, True])
    assert plan("InteropActiveJob", args, {}, profile="sidekiq7").args[0]["arguments"] == rails


def test_sidekiq8_profile_writes_the_new_wrapper_and_rails_71_times() -> None:
    p = plan("MyJob", (), {"kw": 2}, profile="sidekiq8", clock=CLOCK, wait=dt.timedelta(5))
    (data,) = p.args
    assert p.wrapper == NEW_WRAPPER
    assert data["enqueued_at"] == "2026-11-27T12:10:09.490000000Z"
    assert p.at == CLOCK + 5 * 86400
    assert data["scheduled_at"] == "2026-12-02T12:10:09.490000000Z"
    assert data["arguments"] == [{"kw": 2, "_aj_ruby2_keywords": ["kw"]}]


def test_wrapper_can_be_chosen() -> None:
    assert plan("MyJob", (), {}, profile="sidekiq7", wrapper=NEW_WRAPPER).wrapper == NEW_WRAPPER


def test_wait_until_and_options() -> None:
    until = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    p = plan("MyJob", (), {}, profile="sidekiq7", queue="q", priority=4, wait_until=until)
    assert p.at == until.timestamp() and p.queue == "q" and p.args[0]["priority"] == 4
    assert p.args[0]["queue_name"] == "q"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"wait": 1, "wait_until": 2.0}, "not both"),
        ({"wait_until": dt.datetime(2030, 1, 1)}, "aware"),
        ({"queue": ""}, "queue"),
        ({"wrapper": "MyWrapper"}, "wrapper must be one of"),
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, Any], error: str) -> None:
    with pytest.raises(InvalidJob, match=error):
        plan("MyJob", (), {}, profile="sidekiq7", **kwargs)


def test_an_argument_rails_cannot_read_is_refused_by_path() -> None:
    with pytest.raises(UnsupportedArgument, match=r"args\[1\].*object"):
        plan("MyJob", (1, object()), {}, profile="sidekiq7")


def test_perform_later_pushes_the_wrapper_payload(r: redis.Redis, redis_url: str) -> None:
    with Client(redis_url) as client:
        job_id = RailsJob(client, "MyJob").set(queue="critical").perform_later(1, kw=Symbol("s"))
        later = RailsJob(client, "MyJob").set(wait=60).perform_later("later")
    raw = r.lpop(K.queue("critical"))
    assert isinstance(raw, bytes)
    job = Job.decode(raw)
    assert (job.class_name, job.wrapped, job.queue, job.retry) == (
        OLD_WRAPPER, "MyJob", "critical", True,
    )  # fmt: skip
    assert job.args[0]["job_id"] == job_id and job.enqueued_at is not None
    ((member, score),) = zscored(r, K.schedule)
    scheduled = Job.decode(member)
    assert scheduled.args[0]["job_id"] == later and scheduled.enqueued_at is None
    assert scheduled.created_at is not None
    assert score == pytest.approx(scheduled.created_at + 60, abs=1)


def test_rails_jobs_run_inline_with_the_testing_client() -> None:
    app = App()
    seen: list[Any] = []

    @app.job("MyJob")
    def my_job(n: int, sym: Symbol, *, when: dt.date) -> None:
        seen.append((n, sym, when, current_job().queue_name))

    fake = FakeClient(app, mode="inline")
    RailsJob(fake, "MyJob").set(queue="low").perform_later(1, Symbol("s"), when=dt.date(2024, 1, 2))
    assert seen == [(1, Symbol("s"), dt.date(2024, 1, 2), "low")]
    assert isinstance(seen[0][1], Symbol)


async def test_async_rails_job_with_the_fake_async_client() -> None:
    fake = FakeAsyncClient()
    job_id = await AsyncRailsJob(fake, "MyJob").set(wait=30).perform_later("x")
    ((_, job),) = fake.scheduled()
    assert job.args[0]["job_id"] == job_id and job.wrapped == "MyJob"


def test_readme_example_runs(
    r: redis.Redis,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    readme = (FIXTURES.parent / "README.md").read_text()
    section = readme.split("### Rails ActiveJob, both ways", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("REDIS_URL", redis_url)
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # our own README
    ((member, _),) = zscored(r, K.schedule)
    job = Job.decode(member)
    resolve_active_job(namespace["app"], job).call(*job.args)
    assert capsys.readouterr().out == "MyJob 1 x {Symbol('a'): 1} sym 2\n"


def test_sidekiq8_client_writes_the_new_wrapper_with_ms_timestamps(
    r: redis.Redis, redis_url: str
) -> None:
    with Client(redis_url, profile="sidekiq8") as client:
        job_id = RailsJob(client, "MyJob").perform_later(Symbol("x"))
    raw = r.lpop(K.queue("default"))
    assert isinstance(raw, bytes)
    payload = json.loads(raw)
    assert (payload["class"], payload["wrapped"]) == (NEW_WRAPPER, "MyJob")
    assert isinstance(payload["created_at"], int) and payload["created_at"] > 10**12
    data = payload["args"][0]
    assert data["job_id"] == job_id and data["scheduled_at"] is None
    assert len(data["enqueued_at"]) == len("2026-11-27T12:10:09.490000000Z")
