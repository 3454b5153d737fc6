"""One place turns a URL into a client: the default, bad URLs, unix sockets for every role."""

from __future__ import annotations

import asyncio

import pytest

from verk_compat import Client, Worker
from verk_compat.api import Stats, connect
from verk_compat.app import App
from verk_compat.devtools.redis_server import EmbeddedRedis
from verk_compat.redis_url import (
    DEFAULT_URL,
    SentinelURL,
    async_client,
    parse_sentinel,
    resolve,
    sync_client,
    where,
)


def test_resolve_prefers_argument_then_env_then_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert resolve() == DEFAULT_URL == "redis://localhost:6379/0"
    monkeypatch.setenv("REDIS_URL", "redis://env:1/2")
    assert resolve() == "redis://env:1/2"
    assert resolve("redis://arg:3/4") == "redis://arg:3/4"


def test_worker_and_client_agree_on_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker() used to fail without REDIS_URL while Client() used localhost."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    worker = Worker(App(), {"default": 1})
    client = Client()
    assert where(worker.redis) == where(client.redis) == "localhost:6379"


@pytest.mark.parametrize("url", ["redis://h:notaport/0", "ftp://x"])
def test_bad_url_is_named(url: str) -> None:
    for make in (sync_client, async_client):
        with pytest.raises(ValueError, match="bad Redis URL"):
            make(url)


def test_where_never_shows_the_password() -> None:
    assert where(sync_client("redis://user:secret@example:7000/1")) == "example:7000"


async def test_unix_socket_for_worker_client_and_api(redis_server: EmbeddedRedis) -> None:
    """A unix:// URL works everywhere (the worker's TCP keepalive option is not passed on)."""
    url = redis_server.unix_url
    ran: list[int] = []
    app = App()

    @app.job("UnixJob")
    async def unix_job(n: int) -> None:
        ran.append(n)

    with Client(url) as client:
        client.enqueue("UnixJob", [7], queue="unixq")
    worker = Worker(app, {"unixq": 1}, redis_url=url, burst=True)
    try:
        await asyncio.wait_for(worker.run(), 30)
    finally:
        await worker.aclose()
    assert ran == [7]
    admin = connect(url)
    assert Stats(admin).processed >= 1
    assert where(admin).endswith("redis.sock")
    admin.close()


def test_sentinel_url_parts() -> None:
    parsed = parse_sentinel(
        "redis+sentinel://app:s%40cret@h1:26380,h2,[::1]:26381/mymaster/3?sentinel_password=sp"
    )
    assert parsed is not None
    assert parsed.sentinels == [("h1", 26380), ("h2", 26379), ("::1", 26381)]
    assert (parsed.service, parsed.db, parsed.username, parsed.password) == (
        "mymaster",
        3,
        "app",
        "s@cret",
    )
    assert parsed.sentinel_password == "sp" and not parsed.ssl
    assert parse_sentinel("rediss+sentinel://h/m") == SentinelURL([("h", 26379)], "m", ssl=True)
    assert parse_sentinel("redis://h:1/0") is None


@pytest.mark.parametrize(
    "url", ["redis+sentinel://h1:1", "redis+sentinel:///m", "redis+sentinel://h:x/m"]
)
def test_bad_sentinel_url_is_named(url: str) -> None:
    with pytest.raises(ValueError, match="bad Redis URL"):
        sync_client(url)


def test_sentinel_client_names_its_service() -> None:
    assert (
        where(sync_client("redis+sentinel://127.0.0.1:1/mymaster")) == "sentinel service mymaster"
    )
    assert (
        where(async_client("redis+sentinel://127.0.0.1:1/mymaster")) == "sentinel service mymaster"
    )


@pytest.mark.parametrize("url", ["redis://localhost/abc", "rediss://h:6380/1x", "redis://h/-1"])
def test_a_database_path_that_is_not_a_number_is_refused(url: str) -> None:
    """redis-py would silently use database 0 for these."""
    with pytest.raises(ValueError, match="database index must be a number"):
        sync_client(url)
    with pytest.raises(ValueError, match="database index must be a number"):
        async_client(url)


@pytest.mark.parametrize("url", ["redis://h", "redis://h/", "redis://h/3", "unix:///tmp/r.sock"])
def test_a_numbered_or_absent_database_is_accepted(url: str) -> None:
    sync_client(url).close()
