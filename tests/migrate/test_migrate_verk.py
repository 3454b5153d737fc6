"""verk-to-sidekiq on the recorded Verk 1.7.3 state (fixtures/verk-1.7.3/migrate/)."""

from __future__ import annotations

import json

import redis

from tests.support.replies import as_bytes, zmembers
from tests.support.verk_dump import load
from verk_compat.codec.job import Job
from verk_compat.codec.verk import VERK_KEYS, VerkJob
from verk_compat.keys import Keys
from verk_compat.migrate import Result, UnitReport, migrate
from verk_compat.migrate.plans import job_census, verk_queues

K = Keys()


def sidekiq_jobs(r: redis.Redis) -> list[bytes]:
    out: list[bytes] = []
    for key in r.scan_iter(match="queue:*", _type="list"):
        out += [as_bytes(item) for item in r.lrange(key, 0, -1)]
    for name in ("schedule", "retry", "dead"):
        out += zmembers(r, name)
    return out


def test_queues_are_found_without_a_queues_set(r: redis.Redis) -> None:
    load(r, "migrate/01-verk-state-before.json")
    assert not r.exists(K.queues)
    assert verk_queues(r, K) == ["default", "lonely", "other"]


def test_in_progress_list_of_a_queue_without_a_queue_key_is_migrated(r: redis.Redis) -> None:
    load(r, "migrate/01-verk-state-before.json")
    total = job_census(r, K)
    dry = migrate("verk-to-sidekiq", r, dry_run=True)
    assert dry.ok and dry.expected == total == dry.total("before")
    result = migrate("verk-to-sidekiq", r)
    assert result.ok and result.total("quarantined") == 0
    assert not r.keys("inprogress:*") and not r.keys("verk:quarantine:*")
    [lonely] = r.lrange(K.queue("lonely"), 0, -1)
    assert Job.decode(lonely).args == [60001]
    jobs = sidekiq_jobs(r)
    assert len(jobs) == total
    assert all(Job.decode(raw).jid for raw in jobs)
    assert b"lonely" in r.smembers(K.queues)


def test_count_check_fails_when_a_key_was_not_covered() -> None:
    rep = UnitReport("queue:a", "queue:a", before=2, moved=2)
    assert Result("verk-to-sidekiq", False, [rep], expected=2).ok
    assert not Result("verk-to-sidekiq", False, [rep], expected=3).ok


def test_cjson_moved_sidekiq_job_is_converted_not_quarantined(r: redis.Redis) -> None:
    moved_by_verk = (
        b'{"jid":"0123456789abcdef01234567","args":{},"queue":"default","tags":{},'
        b'"class":"A","retry":false,"max_retry_count":0,"created_at":1795885411.6921}'
    )
    r.lpush(K.queue("default"), moved_by_verk)
    result = migrate("verk-to-sidekiq", r)
    assert result.ok and result.total("quarantined") == 0
    job = Job.decode(r.lindex(K.queue("default"), 0) or b"")
    assert (job.args, job.tags, job.retry) == ([], [], False)
    assert b'"args":[]' in (r.lindex(K.queue("default"), 0) or b"")


def sidekiq_state(r: redis.Redis) -> dict[str, Job]:
    """Jobs written by this project's Sidekiq client and worker rules, by jid."""
    made: dict[str, Job] = {}
    for i, queue in enumerate(("default", "default", "other")):
        job = Job.new("MyWorker", [i, "x"], queue=queue, retry=i + 1, tags=["t"])
        r.lpush(K.queue(queue), job.replace(enqueued_at=1795885411.5).encode())
        made[str(job.jid)] = job
    lonely = Job.new("SlowWorker", [60001], queue="lonely")
    r.lpush(K.inprogress("lonely", "host:12:0123456789ab"), lonely.encode())
    later = Job.new("MyWorker", [3, 4])
    r.zadd(K.schedule, {later.encode(): 1795889047.25})
    failed = Job.new("FailWorker", [1, 2]).replace(
        retry_count=0, failed_at=1795885417.0, error_message="boom", error_class="E"
    )
    r.zadd(K.retry, {failed.encode(): 1795885449.0})
    dead = Job.new("FailWorker", ["dies"], retry=0).replace(retry_count=0, failed_at=1.7e9)
    r.zadd(K.dead, {dead.encode(): 1.7e9})
    for job in (lonely, later, failed, dead):
        made[str(job.jid)] = job
    return made


def test_sidekiq_to_verk_and_back_loses_nothing(r: redis.Redis) -> None:
    made = sidekiq_state(r)
    total = job_census(r, K)
    there = migrate("sidekiq-to-verk", r)
    assert there.ok and there.expected == total and there.total("quarantined") == 0
    assert not r.keys("inprogress:*")
    verk = {VerkJob.decode(raw).jid: VerkJob.decode(raw) for raw in sidekiq_jobs(r)}
    assert set(verk) == set(made)
    for raw in sidekiq_jobs(r):
        assert list(json.loads(raw)) == list(VERK_KEYS)  # Verk's format everywhere
    failed = next(j for j in verk.values() if j.error_message == "boom")
    assert (failed.retry_count, failed.failed_at, failed.max_retry_count) == (1, 1795885417, 25)
    scheduled = next(j for j in verk.values() if j.args == [3, 4])
    assert (scheduled.enqueued_at, scheduled.max_retry_count) == (None, None)  # Verk.schedule
    assert r.zscore(K.schedule, scheduled.encode()) == 1795889047.25
    assert verk[next(j for j, job in made.items() if job.args == [1, "x"])].max_retry_count == 2
    back = migrate("verk-to-sidekiq", r)
    assert back.ok and back.total("quarantined") == 0
    again = {Job.decode(raw).jid: Job.decode(raw) for raw in sidekiq_jobs(r)}
    assert set(again) == set(made)
    for jid, job in made.items():
        assert (again[jid].class_name, again[jid].args, again[jid].queue or "lonely") == (
            job.class_name,
            job.args,
            job.queue or "lonely",
        )
    assert again[str(failed.jid)].retry_count == 0  # Sidekiq's count again


def test_cli_migrate_both_ways(r: redis.Redis, redis_url: str) -> None:
    from click.testing import CliRunner

    from verk_compat.cli import main

    load(r, "migrate/01-verk-state-before.json")
    total = job_census(r, K)
    for mode in ("verk-to-sidekiq", "sidekiq-to-verk"):
        out = CliRunner().invoke(main, ["migrate", mode, "--from-url", redis_url])
        assert out.exit_code == 0, out.output
        assert f"source held {total} job(s)  OK" in out.output
    assert len(sidekiq_jobs(r)) == total and not r.keys("inprogress:*")
    assert all(list(json.loads(raw)) == list(VERK_KEYS) for raw in sidekiq_jobs(r))


def test_in_progress_key_of_a_host_with_colons_goes_to_its_queue(r: redis.Redis) -> None:
    """``inprogress:a:web:1:1234:<hex12>`` reads as queue ``a`` (host ``web:1``) or queue
    ``a:web`` (host ``1``): the reading whose queue exists wins, no phantom queue is made."""
    r.lpush(K.queue("a"), Job.new("W", [1], queue="a").encode())
    stuck = K.inprogress("a", "web:1:1234:abcdef012345")
    r.lpush(stuck, Job.new("W", [2], queue="a").encode())
    assert verk_queues(r, K) == ["a"]
    result = migrate("verk-to-sidekiq", r)
    assert result.ok, result
    assert sorted(Job.decode(raw).args[0] for raw in r.lrange(K.queue("a"), 0, -1)) == [1, 2]
    assert not r.exists(stuck) and not r.exists(K.queue("a:web"))
