"""Every dashboard page against a real Redis holding Ruby-written (recorded Sidekiq 6.4.1) and
Python-written data: what each page shows, paging, search, escaping, no secrets, mounting."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from tests.support.web import EVIL, RUBY_IDENTITY, seed
from verk_compat.api import RetrySet
from verk_compat.web import create_app
from verk_compat.web.data import entry_id


@pytest.fixture
def web(redis_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(redis_url)) as client:
        yield client


def test_dashboard_numbers_chart_and_redis_info(
    redis_url: str, r: redis.Redis, web: TestClient
) -> None:
    seed(redis_url, r)
    r.set("stat:processed", 1234)
    r.set("stat:failed", 56)
    page = web.get("/?days=7")
    assert page.status_code == 200
    text = page.text
    assert 'id="processed">1234<' in text and 'id="failed">56<' in text
    assert 'id="enqueued">31<' in text and 'id="retries">1<' in text
    assert 'id="dead">1<' in text and 'id="scheduled">1<' in text and 'id="busy">1<' in text
    assert text.count('class="processed"') == 7 and "<svg" in text
    assert "redis_version" in text
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    live = web.get("/?live=1").text
    assert 'http-equiv="refresh"' in live and 'http-equiv="refresh"' not in text


def test_no_password_on_any_page(redis_server: object, r: redis.Redis) -> None:
    r.config_set("requirepass", "s3cret-pw")
    try:
        url = f"redis://:s3cret-pw@127.0.0.1:{r.connection_pool.connection_kwargs['port']}/0"
        with TestClient(create_app(url)) as client:
            for path in ("/", "/busy", "/queues", "/retries", "/scheduled", "/morgue"):
                page = client.get(path)
                assert page.status_code == 200 and "s3cret-pw" not in page.text
    finally:
        authed = redis.Redis(port=r.connection_pool.connection_kwargs["port"], password="s3cret-pw")
        authed.config_set("requirepass", "")
        authed.close()


def test_busy_shows_ruby_process_and_its_running_job(
    redis_url: str, r: redis.Redis, web: TestClient
) -> None:
    seed(redis_url, r)
    text = web.get("/busy").text
    assert RUBY_IDENTITY in text and "default, critical" in text
    assert "29.8 MB" in text  # rss 30496 KB
    assert text.count('class="running"') == 1 and "SleepyWorker" in text
    assert "[12, &#34;busy&#34;]" in text
    assert 'value="quiet"' in text and 'value="stop"' in text


def test_queues_and_queue_paging(redis_url: str, r: redis.Redis, web: TestClient) -> None:
    seeded = seed(redis_url, r)
    listing = web.get("/queues").text
    assert "/queues/critical" in listing and "/queues/default" in listing
    first = web.get("/queues/critical").text
    assert first.count('class="job"') == 25 and "Page 1 of 2" in first
    second = web.get("/queues/critical?page=2").text
    assert second.count('class="job"') == 5
    assert seeded["jids"][0] in second and seeded["jids"][-1] in first  # newest first
    assert web.get("/queues/critical?page=99").text.count('class="job"') == 5


def test_job_argument_with_script_tag_renders_as_text(
    redis_url: str, r: redis.Redis, web: TestClient
) -> None:
    seed(redis_url, r)
    member = b'{"class":"<b>Evil</b>","args":["' + EVIL.encode() + b'"],"jid":"j1","queue":"q"}'
    r.zadd("retry", {member: 1.5})
    for path in ("/queues/critical", "/retries", "/retries/1.5-" + _digest(member)):
        text = web.get(path).text
        assert "<script>" not in text and "&lt;script&gt;" in text, path
        assert "<b>Evil</b>" not in text


def _digest(raw: bytes) -> str:
    from verk_compat.web.data import digest

    return digest(raw)


def test_sets_list_search_and_job_detail_with_ruby_backtrace(
    redis_url: str, r: redis.Redis, web: TestClient
) -> None:
    seeded = seed(redis_url, r)
    retries = web.get("/retries").text
    assert "FailingBacktrace10Worker" in retries and "Interop::CustomError" in retries
    assert "FailingWorker" in web.get("/morgue").text
    assert "LaterJob" in web.get("/scheduled").text
    jid = json.loads(seeded["retry"]["raw"])["jid"]
    assert "1 matching" in web.get(f"/retries?q={jid}").text
    assert "0 matching" in web.get("/retries?q=NoSuchClass").text
    assert "1 matching" in web.get("/retries?q=FailingBacktrace10").text
    entry = next(iter(RetrySet(r)))
    detail = web.get(f"/retries/{entry_id(entry)}")
    assert detail.status_code == 200
    assert 'id="backtrace"' in detail.text and ".rb:" in detail.text
    assert "[&#34;bt10&#34;]" in detail.text and jid in detail.text


def test_unknown_set_job_and_bad_id_are_404(r: redis.Redis, web: TestClient) -> None:
    assert web.get("/nosuchset").status_code == 404
    assert web.get("/retries/1.0-0123456789abcdef").status_code == 404
    assert web.get("/retries/garbage").status_code == 404


def test_invalid_payload_is_listed(r: redis.Redis, web: TestClient) -> None:
    r.zadd("dead", {b"not json at all": 3.0})
    text = web.get("/morgue").text
    assert "(invalid payload)" in text and "not json at all" in text


def test_mounted_under_a_prefix_links_keep_the_prefix(redis_url: str, r: redis.Redis) -> None:
    seed(redis_url, r)
    outer = Starlette(routes=[Mount("/admin/jobs", app=create_app(redis_url))])
    with TestClient(outer) as client:
        page = client.get("/admin/jobs/queues")
        assert page.status_code == 200
        assert 'href="/admin/jobs/queues/critical"' in page.text
        assert 'action="/admin/jobs/queues/critical"' in page.text
        assert '<a href="/admin/jobs/queues" class="on">' in page.text
        assert client.get("/admin/jobs/retries").status_code == 200


def test_redis_down_is_a_503_naming_host_port_only() -> None:
    from verk_compat.devtools.redis_server import free_port

    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    with TestClient(create_app(url)) as client:
        for path in ("/", "/busy", "/retries"):
            reply = client.get(path)
            assert reply.status_code == 503, path
            assert "127.0.0.1:" in reply.text and "hunter2" not in reply.text
