"""``verk-compat worker --shard QUEUE=URL``: one process serving queues on two real servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import redis

from tests.cli.test_cli_worker import finish, lines, push, start
from verk_compat.cli.shards import parse_shards, plan_shards
from verk_compat.codec.job import Job
from verk_compat.devtools.redis_server import EmbeddedRedis
from verk_compat.keys import Keys

K = Keys()


def test_plan_puts_sharded_queues_on_their_server() -> None:
    shards = parse_shards(["critical=redis://b:6379/0"])
    plan = plan_shards({"default": 5, "critical": 2, "low": 1}, shards, "redis://a:6379/0")
    assert plan == {
        "redis://a:6379/0": {"default": 5, "low": 1},
        "redis://b:6379/0": {"critical": 2},
    }


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["critical"], "QUEUE=REDIS_URL"),
        (["=redis://b"], "QUEUE=REDIS_URL"),
        (["critical=redis://b", "critical=redis://c"], "twice"),
    ],
)
def test_bad_shard_options_are_refused(specs: list[str], message: str) -> None:
    with pytest.raises(click.BadParameter, match=message):
        parse_shards(specs)


def test_a_shard_for_a_queue_not_served_is_refused() -> None:
    with pytest.raises(click.BadParameter, match="does not serve: other"):
        plan_shards({"default": 1}, {"other": "redis://b"}, None)


@pytest.fixture
def second() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis() as server:
        yield server


def test_worker_serves_each_queue_on_its_shard(
    r: redis.Redis, redis_url: str, second: EmbeddedRedis, tmp_path: Path
) -> None:
    other = redis.Redis.from_url(second.url)
    other.flushall()
    push(r, [Job.new("HardWorker", [i, "a"]) for i in range(3)])
    push(other, [Job.new("HardWorker", [i, "b"], queue="critical") for i in range(2)])
    out = tmp_path / "out.jsonl"
    proc = start(
        redis_url, out, "--burst", "-q", "default=2", "-q", "critical=2",
        "--shard", f"critical={second.url}",
    )  # fmt: skip
    text = finish(proc)
    assert proc.returncode == 0, text
    assert sorted(j["args"][1] for j in lines(out)) == ["a", "a", "a", "b", "b"]
    assert f"at 127.0.0.1:{second.port}" in text  # the log names each server
    assert int(r.get(K.stat_processed) or 0) == 3 and int(other.get(K.stat_processed) or 0) == 2
    other.close()


def test_worker_refuses_a_shard_it_does_not_serve(redis_url: str, tmp_path: Path) -> None:
    proc = start(redis_url, tmp_path / "out.jsonl", "--burst", "--shard", "other=redis://b")
    text = finish(proc)
    assert proc.returncode == 2 and "does not serve: other" in text
    assert "Traceback" not in text
