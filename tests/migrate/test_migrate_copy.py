"""``migrate copy`` copies to another Redis and leaves the source as it was; ``move`` moves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from click.testing import CliRunner, Result

from verk_compat.cli import main
from verk_compat.codec.job import Job
from verk_compat.devtools.redis_server import EmbeddedRedis
from verk_compat.keys import Keys

K = Keys()


@pytest.fixture
def other() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis() as server:
        yield server


def cli(mode: str, src: str, dst: str) -> Result:
    return CliRunner().invoke(main, ["migrate", mode, "--from-url", src, "--to-url", dst])


def seed(r: redis.Redis) -> dict[object, object]:
    r.lpush(K.queue("default"), *[Job.new("W", [i]).encode() for i in range(5)])
    r.sadd(K.queues, "default")
    r.zadd(K.retry, {Job.new("W", ["r"]).encode(): 1_700_000_000.5})
    r.set("stat:processed", 7)
    return {key: r.dump(key) for key in r.keys("*")}


def test_copy_leaves_the_source_and_copies_every_byte(
    r: redis.Redis, redis_url: str, other: EmbeddedRedis
) -> None:
    before = seed(r)
    run = CliRunner().invoke(
        main, ["migrate", "copy", "--from-url", redis_url, "--to-url", other.url]
    )
    assert run.exit_code == 0, run.output
    assert "the source is unchanged" in run.output
    assert {key: r.dump(key) for key in r.keys("*")} == before  # untouched
    target = redis.Redis.from_url(other.url)
    assert target.lrange(K.queue("default"), 0, -1) == r.lrange(K.queue("default"), 0, -1)
    assert target.zrange(K.retry, 0, -1, withscores=True) == r.zrange(
        K.retry, 0, -1, withscores=True
    )
    assert target.get("stat:processed") == b"7" and target.smembers(K.queues) == {b"default"}
    # A second copy finds the keys there: reported, nothing overwritten, exit 1.
    again = CliRunner().invoke(
        main, ["migrate", "copy", "--from-url", redis_url, "--to-url", other.url]
    )
    assert again.exit_code == 1 and "conflict: queue:default" in again.output
    assert target.llen(K.queue("default")) == 5
    target.close()


def test_move_empties_the_source(r: redis.Redis, redis_url: str, other: EmbeddedRedis) -> None:
    seed(r)
    run = CliRunner().invoke(
        main, ["migrate", "move", "--from-url", redis_url, "--to-url", other.url]
    )
    assert run.exit_code == 0, run.output
    assert r.llen(K.queue("default")) == 0
    target = redis.Redis.from_url(other.url)
    assert target.llen(K.queue("default")) == 5
    target.close()


def test_copy_needs_another_server(redis_url: str) -> None:
    run = CliRunner().invoke(main, ["migrate", "copy", "--from-url", redis_url])
    assert run.exit_code == 2 and "needs --to-url" in run.output
