"""The dashboard in a real browser (headless Debian chromium) served by `verk-compat web`,
with a live Ruby Sidekiq 6.4.1 process and a live verk-compat worker, and recorded Ruby
failures next to Python jobs.

Screenshots of every page are kept in ``build/test-artifacts/web/`` (``VERK_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

from tests.conftest import require
from tests.support.browser import dashboard_server, dump_dom, screenshot
from tests.support.cdp import Browser
from tests.support.ruby import SidekiqProcess
from tests.support.web import RUBY_IDENTITY, csrf, seed
from verk_compat.api import ProcessSet, RetrySet
from verk_compat.web import create_app
from verk_compat.web.data import entry_id

pytestmark = pytest.mark.interop
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def chromium() -> str:
    return require("chromium", "the dashboard's browser tests run headless chromium")


@pytest.fixture
def ruby(redis_url: str) -> Iterator[SidekiqProcess]:
    """A real Sidekiq 6.4.1 server process, once its heartbeat is in Redis."""
    with SidekiqProcess(redis_url, queues=("default", "ruby_only"), concurrency=3) as proc:
        client = redis.Redis.from_url(redis_url)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _ruby_identities(client):
            time.sleep(0.2)
        client.close()
        yield proc


def _ruby_identities(r: redis.Redis) -> list[str]:
    return [p.identity for p in ProcessSet(r) if "ruby_only" in p.queues]


@pytest.fixture
def python_worker(redis_url: str, tmp_path: Path) -> Iterator[str]:
    """A real `verk-compat worker` process on queue python_only; yields its identity."""
    env = {**os.environ, "WORKER_OUT": str(tmp_path / "out.jsonl"), "PYTHONPATH": str(ROOT)}
    code = "from verk_compat.cli import main; main()"
    cmd = [sys.executable, "-c", code, "worker", "tests.support.worker_app:app"]
    cmd += ["--redis-url", redis_url, "-q", "python_only=4"]
    with (tmp_path / "worker.log").open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        client = redis.Redis.from_url(redis_url)
        deadline, found = time.monotonic() + 30, list[str]()
        while time.monotonic() < deadline and not found:
            found = [p.identity for p in ProcessSet(client) if "python_only" in p.queues]
            time.sleep(0.2)
        client.close()
        assert found, (tmp_path / "worker.log").read_text()
        yield found[0]
    finally:
        proc.terminate()
        proc.wait(30)


def test_every_page_renders_in_chromium(
    chromium: str, redis_url: str, r: redis.Redis, ruby: SidekiqProcess, python_worker: str
) -> None:
    seed(redis_url, r)
    live = _ruby_identities(r)
    assert live, "the Ruby Sidekiq process never sent a heartbeat"
    # The recorded Ruby failure (the live Ruby process adds its own retries meanwhile).
    retry_id = entry_id(next(e for e in RetrySet(r) if e.class_name == "FailingBacktrace10Worker"))
    pages = {
        "dashboard": ("/", ['id="history"', 'id="redis-info"', "redis_version"]),
        "busy": ("/busy", [live[0], RUBY_IDENTITY, python_worker, "python_only", "SleepyWorker"]),
        "queues": ("/queues", ['href="/queues/critical"', 'id="queues"']),
        "queue": ("/queues/critical", ["PyJob", "Page 1 of 2", "&lt;script&gt;"]),
        "retries": ("/retries", ["FailingBacktrace10Worker", "Retry now"]),
        "job": (f"/retries/{retry_id}", ['id="backtrace"', "Interop::CustomError"]),
        "scheduled": ("/scheduled", ["LaterJob", "Add to queue"]),
        "dead": ("/morgue", ["FailingWorker"]),
    }
    with dashboard_server(redis_url) as base:
        for name, (path, needles) in pages.items():
            dom = dump_dom(chromium, base + path)
            for needle in needles:
                assert needle in dom, f"{name}: {needle!r} missing"
            # The job argument "<script>..." stayed text: the DOM holds no script element.
            assert not re.search(r"<script\b", dom), name
            shot = screenshot(chromium, base + path, name)
            assert shot.stat().st_size > 5000, f"{name}: empty screenshot"


def test_quiet_then_stop_buttons_steer_a_real_ruby_sidekiq(
    redis_url: str, r: redis.Redis, ruby: SidekiqProcess
) -> None:
    identity = _ruby_identities(r)[0]
    with TestClient(create_app(redis_url), follow_redirects=False) as web:
        token = csrf(web, "/busy")
        reply = web.post(
            "/busy", data={"authenticity_token": token, "identity": identity, "action": "quiet"}
        )
        assert reply.status_code == 303
    deadline = time.monotonic() + 30
    quiet = None
    while time.monotonic() < deadline:
        quiet = ProcessSet(r).get(identity)
        if quiet is not None and quiet.quiet:
            break
        time.sleep(0.3)
    assert quiet is not None and quiet.quiet, "Ruby Sidekiq did not turn quiet"
    with TestClient(create_app(redis_url), follow_redirects=False) as web:
        token = csrf(web, "/busy")
        form = {"authenticity_token": token, "identity": identity, "action": "stop"}
        assert web.post("/busy", data=form).status_code == 303
    assert ruby.proc is not None
    ruby.proc.wait(30)  # Sidekiq pops TERM at its next heartbeat and shuts down
    assert ruby.proc.returncode == 0


def test_buttons_clicked_in_chromium_change_redis(
    chromium: str, redis_url: str, r: redis.Redis
) -> None:
    """Real clicks: the browser carries the CSRF cookie and token, follows the redirect."""
    seed(redis_url, r)
    quiet = f"document.querySelector('input[value=\"{RUBY_IDENTITY}\"]')"
    quiet += ".form.querySelector('button[value=quiet]').click()"
    with dashboard_server(redis_url) as base, Browser(chromium) as page:
        page.goto(base + "/busy")
        page.click(quiet)
        assert page.evaluate("location.pathname") == "/busy"
        assert r.lrange(f"{RUBY_IDENTITY}-signals", 0, -1) == [b"TSTP"]
        page.goto(base + "/retries")
        page.click(
            "document.querySelector('input[name=key]').click();"
            "document.querySelector('button[value=kill]').click()"
        )
        assert page.evaluate("document.querySelectorAll('tr.job').length") == 0
        assert r.zcard("retry") == 0 and r.zcard("dead") == 2
        page.goto(base + "/queues")
        page.click("document.querySelector('form[action=\"/queues/critical\"] button').click()")
        assert page.evaluate("location.pathname") == "/queues"
        assert not r.exists("queue:critical")
