"""verk-to-sidekiq on the recorded Verk 1.7.3 state (fixtures/verk-1.7.3/migrate/)."""

from __future__ import annotations

import redis

from tests.support.verk_dump import load
from verk_compat.codec.job import Job
from verk_compat.keys import Keys
from verk_compat.migrate import Result, UnitReport, migrate
from verk_compat.migrate.plans import job_census, verk_queues

K = Keys()


def sidekiq_jobs(r: redis.Redis) -> list[bytes]:
    out: list[bytes] = []
    for key in r.scan_iter(match="queue:*", _type="list"):
        out += r.lrange(key, 0, -1)
    for name in ("schedule", "retry", "dead"):
        out += r.zrange(name, 0, -1)
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
