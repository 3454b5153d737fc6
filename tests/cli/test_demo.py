"""The README's demo runs end to end (on the test Redis, and on its own embedded Redis)."""

from __future__ import annotations

import pytest
import redis
from click.testing import CliRunner

from tests.support.replies import as_bytes, zmembers
from verk_compat.cli import main
from verk_compat.codec.job import Job
from verk_compat.devtools.demo import NAMESPACE, QUEUE, run_demo
from verk_compat.keys import Keys


def test_demo_runs_every_job_and_leaves_one_retry(redis_url: str, r: redis.Redis) -> None:
    lines: list[str] = []
    result = run_demo(redis_url, 200, say=lines.append)
    assert result["processed"] == 203
    assert result["failed"] == 1
    assert sorted(result["results"]) == ["charged acct_42 19.99", "hello Ada x3"]
    assert r.llen(Keys(NAMESPACE).queue(QUEUE)) == 0
    (member,) = zmembers(r, Keys(NAMESPACE).retry)
    job = Job.decode(member)
    assert (job.class_name, job.error_class, job.retry_count) == ("Demo::Flaky", "RuntimeError", 0)
    assert job.error_backtrace  # the job asked for backtrace: 5
    assert any("byte for byte" in line for line in lines)


@pytest.mark.interop
def test_demo_shows_ruby_sidekiq_reading_the_same_data() -> None:
    lines: list[str] = []
    run_demo(None, 10, say=lines.append)  # its private Redis: Ruby reads no namespace
    text = "\n".join(lines)
    assert "Sidekiq 6.4.1 (Ruby) reads the same Redis: processed=13 failed=1 retries=1" in text
    assert "Ruby's RetrySet: Demo::Flaky RuntimeError: card declined" in text


def test_demo_command_starts_its_own_redis() -> None:
    result = CliRunner().invoke(main, ["demo", "--jobs", "50"], env={"REDIS_URL": ""})
    assert result.exit_code == 0, result.output
    assert "started a private redis-server" in result.output
    assert "Demo finished." in result.output


def test_demo_twice_on_a_users_redis_touches_only_its_namespace(
    redis_url: str, r: redis.Redis
) -> None:
    """Issue 9 item 8: a second run used to exit 1 (counts added up), and the demo wrote into
    the user's own ``retry`` set and ``stat:*`` counters."""
    r.set("stat:processed", 7)
    r.zadd("retry", {b'{"class":"Mine","jid":"abc"}': 1.0})
    r.lpush("queue:default", b"mine")
    before = {as_bytes(key): r.dump(key) for key in r.keys("*")}
    for _ in range(2):
        result = CliRunner().invoke(main, ["demo", "--jobs", "20", "--redis-url", redis_url])
        assert result.exit_code == 0, result.output
        assert "Demo finished." in result.output
        assert f"only keys under {NAMESPACE}:*" in result.output
    every = [as_bytes(key) for key in r.keys("*")]
    outside = {key for key in every if not key.startswith(f"{NAMESPACE}:".encode())}
    assert outside == set(before)
    assert {key: r.dump(key) for key in outside} == before
