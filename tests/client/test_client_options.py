"""Keyword arguments of the clients: job options only; other payload keys go through ``extra``.

``enqueue("X", [], to="bob")`` used to write ``"to"`` as a payload key (the job then failed with
a TypeError and was retried 25 times): every client refuses it now, before anything is written.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from tests.support.payloads import queue_payloads
from verk_compat.client.async_client import AsyncClient
from verk_compat.client.client import Client
from verk_compat.client.sharded import AsyncShardedClient, ShardedClient
from verk_compat.devtools.testing import FakeAsyncClient, FakeClient
from verk_compat.errors import InvalidJob

KINDS = ["client", "async", "sharded", "async-sharded", "fake", "fake-async"]


def make(kind: str, redis_url: str) -> Any:
    makers: dict[str, Callable[[], Any]] = {
        "client": lambda: Client(redis_url),
        "async": lambda: AsyncClient(redis_url),
        "sharded": lambda: ShardedClient({}, default=redis_url),
        "async-sharded": lambda: AsyncShardedClient({}, default=redis_url),
        "fake": FakeClient,
        "fake-async": FakeAsyncClient,
    }
    return makers[kind]()


async def call(client: Any, method: str, *args: Any, **kwargs: Any) -> Any:
    if method == "schedule":
        kwargs["at"] = time.time() + 60
    if method == "enqueue_in":
        args = (60, *args)
    if method == "enqueue_many":
        args = (args[0], [args[1]])
    result = getattr(client, method)(*args, **kwargs)
    return await result if inspect.isawaitable(result) else result


async def close(client: Any) -> None:
    if hasattr(client, "aclose"):
        await client.aclose()
    else:
        client.close()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method", ["enqueue", "enqueue_many", "schedule", "enqueue_in"])
async def test_unknown_keyword_is_refused_before_anything_is_written(
    kind: str, method: str, redis_url: str, r: redis.Redis
) -> None:
    client = make(kind, redis_url)
    try:
        with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) 'to'.*extra="):
            await call(client, method, "Mailer", ["hi"], to="bob")
    finally:
        await close(client)
    assert r.dbsize() == 0
    assert getattr(client, "writes", []) == []


@pytest.mark.parametrize("kind", KINDS)
async def test_extra_keys_and_options_are_written(
    kind: str, redis_url: str, r: redis.Redis
) -> None:
    client = make(kind, redis_url)
    try:
        await call(client, "enqueue", "Mailer", ["hi"], backtrace=3, extra={"to": "bob"})
    finally:
        await close(client)
    payloads = (
        [json.loads(raw) for raw in client.payloads()]
        if isinstance(client, FakeClient | FakeAsyncClient)
        else queue_payloads(r)
    )
    (payload,) = payloads
    assert payload["to"] == "bob"
    assert payload["backtrace"] == 3
    assert payload["args"] == ["hi"]


@pytest.mark.parametrize(
    ("extra", "error", "match"),
    [
        ({"queue": "x"}, InvalidJob, "pass queue="),
        ({"retry": 1}, InvalidJob, "pass retry="),
        ({"class": "Other"}, InvalidJob, "Sidekiq payload key"),
        ({"args": [1]}, InvalidJob, "Sidekiq payload key"),
        ({"enqueued_at": 1.0}, InvalidJob, "Sidekiq payload key"),
        ({"retry_count": 3}, InvalidJob, "Sidekiq payload key"),
        ({"at": 1.0}, InvalidJob, "not a payload key"),
        ({1: "x"}, TypeError, "strings"),
    ],
)
def test_extra_may_not_name_sidekiq_keys(
    extra: dict[Any, Any], error: type[Exception], match: str, redis_url: str, r: redis.Redis
) -> None:
    with Client(redis_url) as client, pytest.raises(error, match=match):
        client.enqueue("W", [], extra=extra)
    assert r.dbsize() == 0


def test_extra_must_be_a_mapping(redis_url: str) -> None:
    with Client(redis_url) as client, pytest.raises(TypeError, match="mapping"):
        client.enqueue("W", [], extra=[("to", "bob")])  # type: ignore[arg-type]
