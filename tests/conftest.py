"""Test harness: a real ``redis-server`` per session and a clean database for every test.

No fakeredis and no mocks of Redis. The server runs on a free loopback port (never 6379, never
``--port 0``) with ``--save "" --appendonly no`` in a temp dir (see
``verk_compat.devtools.redis_server``).
Interop tests ask for ``ruby_sidekiq``; without Ruby Sidekiq they skip locally, and fail when
``CI=true``, because a skipped interop test proves nothing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio

from verk_compat.devtools.redis_server import EmbeddedRedis

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# verk-compat's own pytest plugin (``verk_fake``, ``verk_redis_url``); see pyproject's addopts.
pytest_plugins = ["verk_compat.devtools.pytest_plugin"]


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    """One real redis-server for the whole test session."""
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> str:
    """URL of a freshly flushed database 0 on the session's server."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.script_flush()
    client.close()
    return redis_server.url


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    """A sync client (bytes replies) on a clean database."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
async def ar(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """An asyncio client (bytes replies) on a clean database."""
    client = redis.asyncio.Redis.from_url(redis_url)
    yield client
    await client.aclose()


def require(binary: str, why: str) -> str:
    """Path of ``binary``; skip without it locally, fail without it in CI."""
    path = shutil.which(binary)
    if path is None:
        message = f"{binary} not installed ({why}); run scripts/bootstrap as root"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def ruby_sidekiq() -> str:
    """Path of Debian's ``sidekiq`` executable (ruby-sidekiq 6.4.1)."""
    require("ruby", "interop tests run real Ruby Sidekiq")
    return require("sidekiq", "interop tests run real Ruby Sidekiq")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "interop" in item.keywords:
            item.add_marker(pytest.mark.usefixtures("ruby_sidekiq"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # With CI=true a skip is a failure: nothing may pass CI by not running.
    report: pytest.TestReport = yield
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true (a skip is a failure in CI): {reason}"
    return report
