"""Every dashboard button against a real Redis, checked in Redis afterwards; CSRF and read-only."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis
from starlette.testclient import TestClient

from tests.support.web import RUBY_IDENTITY, csrf, seed
from verk_compat.api import DeadSet, RetrySet, ScheduledSet
from verk_compat.web import create_app
from verk_compat.web.data import digest, entry_id


@pytest.fixture
def web(redis_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(redis_url), follow_redirects=False) as client:
        yield client


def post(client: TestClient, path: str, **form: str | list[str]) -> int:
    token = csrf(client, path if not path.startswith("/busy") else "/busy")
    reply = client.post(path, data={"authenticity_token": token, **form})
    return reply.status_code


def test_quiet_and_stop_signal_the_ruby_process(
    redis_url: str, r: redis.Redis, web: TestClient
) -> None:
    seed(redis_url, r)
    assert post(web, "/busy", identity=RUBY_IDENTITY, action="quiet") == 303
    assert post(web, "/busy", identity=RUBY_IDENTITY, action="stop") == 303
    key = f"{RUBY_IDENTITY}-signals"
    assert r.lrange(key, 0, -1) == [b"TERM", b"TSTP"] and 0 < r.ttl(key) <= 60
    assert post(web, "/busy", identity="*", action="quiet") == 303
    assert r.llen(key) == 3


def test_queue_delete_one_and_clear(redis_url: str, r: redis.Redis, web: TestClient) -> None:
    seed(redis_url, r)
    victim = r.lindex("queue:critical", 3)
    assert isinstance(victim, bytes)
    assert post(web, "/queues/critical", action="delete", key=digest(victim)) == 303
    assert r.llen("queue:critical") == 29 and victim not in r.lrange("queue:critical", 0, -1)
    assert post(web, "/queues/critical", action="clear") == 303
    assert not r.exists("queue:critical") and not r.sismember("queues", "critical")


def test_retry_now_moves_the_exact_ruby_member(
    redis_url: str, r: redis.Redis, web: TestClient
) -> None:
    seeded = seed(redis_url, r)
    entry = next(iter(RetrySet(r)))
    assert post(web, "/retries", action="retry", key=entry_id(entry)) == 303
    assert r.zcard("retry") == 0
    pushed = json.loads(r.lindex("queue:default", 0) or b"{}")
    assert pushed["jid"] == json.loads(seeded["retry"]["raw"])["jid"]
    assert pushed["retry_count"] == -1  # SortedEntry#retry decrements (0 -> -1)


def test_kill_delete_and_add_to_queue_one_job(
    redis_url: str, r: redis.Redis, web: TestClient
) -> None:
    seed(redis_url, r)
    retry_entry = next(iter(RetrySet(r)))
    assert post(web, "/retries", action="kill", key=entry_id(retry_entry)) == 303
    assert r.zcard("retry") == 0 and r.zscore("dead", retry_entry.raw) is not None
    dead_entry = next(e for e in DeadSet(r) if e.raw == retry_entry.raw)
    assert post(web, "/morgue", action="delete", key=entry_id(dead_entry)) == 303
    assert r.zscore("dead", retry_entry.raw) is None and r.zcard("dead") == 1
    scheduled = next(iter(ScheduledSet(r)))
    assert post(web, "/scheduled", action="add_to_queue", key=entry_id(scheduled)) == 303
    assert r.zcard("schedule") == 0
    assert json.loads(r.lindex("queue:default", 0) or b"{}")["class"] == "LaterJob"


def test_job_that_moved_meanwhile_is_skipped(
    redis_url: str, r: redis.Redis, web: TestClient
) -> None:
    seed(redis_url, r)
    entry = next(iter(RetrySet(r)))
    r.zrem("retry", entry.raw)
    assert post(web, "/retries", action="retry", key=entry_id(entry)) == 303
    assert r.llen("queue:default") == 1  # only the seeded Plain job


def test_bulk_selected_and_all(redis_url: str, r: redis.Redis, web: TestClient) -> None:
    seed(redis_url, r)
    for i in range(4):
        r.zadd("dead", {json.dumps({"class": "D", "args": [i], "jid": f"d{i}"}).encode(): i})
    picked = [entry_id(e) for e in DeadSet(r) if e.job is not None and e.job.class_name == "D"]
    assert post(web, "/morgue", action="delete", key=picked[:2]) == 303
    assert r.zcard("dead") == 3
    assert post(web, "/morgue", action="retry", scope="all") == 303
    assert r.zcard("dead") == 0 and r.llen("queue:default") == 4
    assert post(web, "/retries", action="kill", scope="all") == 303
    assert r.zcard("retry") == 0 and r.zcard("dead") == 1
    assert post(web, "/scheduled", action="delete", scope="all") == 303
    assert r.zcard("schedule") == 0


def test_an_action_the_set_lacks_is_refused(
    redis_url: str, r: redis.Redis, web: TestClient
) -> None:
    seed(redis_url, r)
    assert post(web, "/morgue", action="kill", scope="all") == 400
    assert post(web, "/busy", identity=RUBY_IDENTITY, action="explode") == 400
    assert r.zcard("dead") == 1


def test_post_without_or_with_a_wrong_csrf_token_is_403(
    redis_url: str, r: redis.Redis, web: TestClient
) -> None:
    seed(redis_url, r)
    assert web.post("/queues/critical", data={"action": "clear"}).status_code == 403
    token = csrf(web, "/queues")
    bad = web.post("/queues/critical", data={"action": "clear", "authenticity_token": "0" * 64})
    assert bad.status_code == 403
    web.cookies.clear()  # a token without its cookie (another browser's) is refused too
    stolen = web.post("/queues/critical", data={"action": "clear", "authenticity_token": token})
    assert stolen.status_code == 403
    assert r.llen("queue:critical") == 30


def test_read_only_hides_buttons_and_refuses_posts(redis_url: str, r: redis.Redis) -> None:
    seed(redis_url, r)
    with TestClient(create_app(redis_url, read_only=True)) as web:
        for path in ("/busy", "/queues", "/queues/critical", "/retries", "/morgue"):
            text = web.get(path).text
            assert "<button" not in text.replace("<button>Search</button>", ""), path
            assert "Read-only mode" in text
        web.get("/")
        reply = web.post("/queues/critical", data={"action": "clear"})
        assert reply.status_code == 403
    assert r.llen("queue:critical") == 30
