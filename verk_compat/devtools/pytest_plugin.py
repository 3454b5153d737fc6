"""pytest plugin (entry point ``pytest11``, loaded once verk-compat is installed): fixtures for
testing code that uses verk-compat.

* ``verk_fake`` / ``verk_fake_async``: a :class:`~verk_compat.devtools.testing.FakeClient` /
  :class:`~verk_compat.devtools.testing.FakeAsyncClient` in fake mode, no Redis;
* ``verk_redis_server``: a private real ``redis-server`` for the session (free loopback port,
  no persistence; :class:`~verk_compat.devtools.redis_server.EmbeddedRedis`), or the server at
  ``$VERK_TEST_REDIS_URL`` when set (it gets flushed: never point it at data you keep);
* ``verk_redis_url``: that server's URL, its database flushed before each test.

Keys touched: every key of the test server (FLUSHALL before each test using ``verk_redis_url``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from verk_compat.devtools.redis_server import EmbeddedRedis
from verk_compat.devtools.testing import FakeAsyncClient, FakeClient

__all__ = ["verk_fake", "verk_fake_async", "verk_redis_server", "verk_redis_url"]


@pytest.fixture
def verk_fake() -> FakeClient:
    """A fake-mode client: jobs are recorded per queue, nothing needs Redis."""
    return FakeClient()


@pytest.fixture
def verk_fake_async() -> FakeAsyncClient:
    """The asyncio variant of ``verk_fake``."""
    return FakeAsyncClient()


@pytest.fixture(scope="session")
def verk_redis_server() -> Iterator[str]:
    """URL of a real Redis for the session: ``$VERK_TEST_REDIS_URL``, else a private one."""
    url = os.environ.get("VERK_TEST_REDIS_URL")
    if url:
        yield url
        return
    with EmbeddedRedis() as server:
        yield server.url


@pytest.fixture
def verk_redis_url(verk_redis_server: str) -> str:
    """The session's Redis URL, flushed before the test."""
    client = redis.Redis.from_url(verk_redis_server)
    try:
        client.flushall()
    finally:
        client.close()
    return verk_redis_server
