"""resque-scheduler's delayed jobs move into Sidekiq's ``schedule``; every Resque key the
migration leaves alone is listed, and an unhandled one fails the CLI unless --skip-unhandled."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis
from click.testing import CliRunner

from tests.support.migrate import resque_delayed, resque_jobs, snapshot
from tests.support.replies import zmembers, zscored
from tests.support.ruby import ruby_json
from verk_compat.cli import main
from verk_compat.codec.job import Job
from verk_compat.devtools.redis_server import EmbeddedRedis
from verk_compat.keys import Keys, ResqueKeys
from verk_compat.lua import script
from verk_compat.migrate import migrate
from verk_compat.migrate.leftovers import resque_reason, sidekiq_reason

K, RK = Keys(), ResqueKeys()
T1, T2 = 1900000000, 1900000600


def scheduler_state(r: redis.Redis) -> list[bytes]:
    """Three delayed jobs at two times (two queues), one unreadable, Resque's counters and
    worker keys, and a recurring schedule (which has no Sidekiq equivalent)."""
    items = [
        resque_delayed(r, T1, "Mailer", [1, "a"], "mail"),
        resque_delayed(r, T1, "Report", [{"k": 2}], "default"),
        resque_delayed(r, T2, "Mailer", [3], "mail"),
    ]
    r.rpush(RK.delayed(T2), b"{broken")
    r.set(RK.key("stat:processed"), 5)
    r.sadd(RK.key("workers"), "host:1:default")
    r.hset(RK.key("delayed:last_enqueued_at"), "nightly", "2024-01-01")
    r.hset(RK.key("schedules"), "nightly", json.dumps({"cron": "0 3 * * *", "class": "N"}))
    return items


def test_delayed_jobs_go_to_schedule_with_their_times(r: redis.Redis) -> None:
    scheduler_state(r)
    resque_jobs(r, "default", 2)
    result = migrate("resque-to-sidekiq", r)
    assert result.ok
    scheduled = [(json.loads(m), score) for m, score in zscored(r, K.schedule)]
    assert [(j["class"], j["args"], j["queue"], s) for j, s in scheduled] == [
        ("Mailer", [1, "a"], "mail", float(T1)),
        ("Report", [{"k": 2}], "default", float(T1)),
        ("Mailer", [3], "mail", float(T2)),
    ]
    for job, _ in scheduled:  # as Sidekiq's perform_at writes them: enqueued when due
        assert "enqueued_at" not in job and job["retry"] is True and len(job["jid"]) == 24
    (bad,) = r.lrange(K.quarantine(RK.delayed(T2)), 0, -1)
    assert json.loads(bad)["raw"] == "{broken"
    # The delayed lists are gone, and resque-scheduler's index with them.
    assert r.keys("resque:delayed:19*") == [] and r.keys("resque:timestamps:*") == []
    assert not r.exists(RK.delayed_schedule)
    assert r.llen(K.queue("default")) == 2
    assert result.unhandled == ["resque:schedules"]
    assert result.reasons["resque:stat:processed"].startswith("Resque's counters")
    assert set(result.reasons) == {
        "resque:stat:processed", "resque:workers", "resque:delayed:last_enqueued_at",
    }  # fmt: skip


def test_dry_run_counts_delayed_jobs_and_writes_nothing(r: redis.Redis) -> None:
    scheduler_state(r)
    before = snapshot(r)
    result = migrate("resque-to-sidekiq", r, dry_run=True)
    assert snapshot(r) == before
    delayed = [rep for rep in result.reports if rep.source.startswith("resque:delayed:")]
    assert [(rep.source, rep.before, rep.moved, rep.quarantined) for rep in delayed] == [
        (RK.delayed(T1), 2, 2, 0),
        (RK.delayed(T2), 2, 1, 1),
    ]
    assert result.unhandled == ["resque:schedules"]


def test_with_queue_delayed_jobs_are_left_with_a_reason(r: redis.Redis) -> None:
    scheduler_state(r)
    resque_jobs(r, "default", 1)
    resque_jobs(r, "other", 1)
    result = migrate("resque-to-sidekiq", r, queues=["default"])
    assert r.zcard(K.schedule) == 0 and r.llen(RK.delayed(T1)) == 2
    assert result.reasons[RK.queue("other")] == "not selected (--queue)"
    assert "span queues" in result.reasons[RK.delayed(T1)]
    assert "span queues" in result.reasons[RK.delayed_schedule]
    assert result.unhandled == ["resque:schedules"]


def test_tidy_keeps_the_index_of_a_list_that_still_holds_jobs(r: redis.Redis) -> None:
    item = resque_delayed(r, T1, "Mailer", [1], "mail")
    tidy = script("delayed_tidy")
    ts_key = RK.key(f"timestamps:{item.decode()}")
    assert tidy(r, [RK.delayed_schedule, RK.delayed(T1)], [str(T1), "zset"]) == 0
    assert tidy(r, [ts_key, RK.delayed(T1)], [RK.delayed_member(T1), "set"]) == 0
    r.delete(RK.delayed(T1))
    assert tidy(r, [RK.delayed_schedule, RK.delayed(T1)], [str(T1), "zset"]) == 1
    assert tidy(r, [ts_key, RK.delayed(T1)], [RK.delayed_member(T1), "set"]) == 1
    assert not r.exists(RK.delayed_schedule, ts_key)


def test_reasons_are_pure() -> None:
    assert resque_reason("stat:failed") and resque_reason("worker:h:1:q")
    assert resque_reason("schedules") is None and resque_reason("queue:x") is None
    assert sidekiq_reason("h:1:abc:work", {"h:1:abc"}) and sidekiq_reason("processes", set())
    assert sidekiq_reason("cron_job:x", set()) is None


def cli(*args: str, url: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["migrate", *args, "--from-url", url], env={"REDIS_URL": ""})
    return result.exit_code, result.output


def test_cli_lists_unhandled_keys_and_fails_unless_told(r: redis.Redis, redis_url: str) -> None:
    scheduler_state(r)
    code, out = cli("resque-to-sidekiq", "--dry-run", url=redis_url)
    assert code == 1
    assert "NOT HANDLED (1 key(s) of the source not migrated):\n    resque:schedules" in out
    assert (
        "left alone (Resque's counters (Sidekiq keeps its own stat:*)): resque:stat:processed"
        in out
    )
    assert f"resque:delayed:{T1} -> schedule: before 2, moved 2" in out
    code, out = cli("resque-to-sidekiq", "--skip-unhandled", url=redis_url)
    assert code == 0, out
    assert r.zcard(K.schedule) == 3


def test_resque_source_with_only_counters_exits_zero(r: redis.Redis, redis_url: str) -> None:
    resque_jobs(r, "default", 1)
    r.set(RK.key("stat:processed"), 1)
    code, out = cli("resque-to-sidekiq", url=redis_url)
    assert code == 0, out
    assert "NOT HANDLED" not in out


@pytest.fixture(scope="module")
def second_server() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture
def b(second_server: EmbeddedRedis) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(second_server.url)
    client.flushall()
    yield client
    client.close()


def test_delayed_jobs_move_across_servers(r: redis.Redis, b: redis.Redis) -> None:
    scheduler_state(r)
    result = migrate("resque-to-sidekiq", r, b)
    assert result.ok
    assert [score for _, score in zscored(b, K.schedule)] == [float(T1), float(T1), float(T2)]
    assert not r.exists(RK.delayed(T1), RK.delayed_schedule)
    assert r.keys("resque:timestamps:*") == []


@pytest.mark.interop
def test_ruby_sidekiq_reads_the_migrated_schedule(r: redis.Redis, redis_url: str) -> None:
    scheduler_state(r)
    migrate("resque-to-sidekiq", r)
    seen = ruby_json(
        "puts JSON.generate(Sidekiq::ScheduledSet.new.map { |e| [e.klass, e.args, e.queue,"
        " e.at.to_i] })",
        redis_url,
    )
    assert sorted(seen, key=json.dumps) == [
        ["Mailer", [1, "a"], "mail", T1],
        ["Mailer", [3], "mail", T2],
        ["Report", [{"k": 2}], "default", T1],
    ]
    assert all(Job.decode(m).queue for m in zmembers(r, K.schedule))
