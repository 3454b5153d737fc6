"""Lifecycle hooks around a real worker: order, the per-process context, failures."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import redis

from verk_compat.client.client import Client
from verk_compat.keys import Keys
from verk_compat.worker.app import App
from verk_compat.worker.launcher import Worker
from verk_compat.worker.lifecycle import ProcessContext


async def test_hooks_wrap_the_worker_and_jobs_read_the_context(
    redis_url: str, r: redis.Redis
) -> None:
    app = App()
    calls: list[Any] = []

    @app.on_startup
    def open_pool(ctx: ProcessContext) -> None:
        calls.append(("startup-sync", r.sismember(Keys().processes, ctx.identity)))
        ctx.pool = ["connection"]

    @app.on_startup
    async def warm(ctx: ProcessContext) -> None:
        calls.append(("startup-async", await ctx.redis.ping()))

    @app.on_shutdown
    def close_pool(ctx: ProcessContext) -> None:
        calls.append(("shutdown-sync", ctx.pool))

    @app.on_shutdown
    async def last(ctx: ProcessContext) -> None:
        calls.append(("shutdown-async", None))

    @app.job("UsesPool")
    def uses_pool(n: int) -> None:
        calls.append(("job", app.context.pool, n))

    with Client(redis_url) as client:
        client.enqueue("UsesPool", [1])
    worker = Worker(app, {"default": 1}, redis_url=redis_url, burst=True)
    await worker.run()
    await worker.aclose()
    assert calls == [
        ("startup-sync", False),  # before the first heartbeat
        ("startup-async", True),
        ("job", ["connection"], 1),
        ("shutdown-async", None),  # reverse order, after the jobs
        ("shutdown-sync", ["connection"]),
    ]
    assert app.context.identity == worker.identity


async def test_a_failing_startup_hook_stops_the_start(redis_url: str, r: redis.Redis) -> None:
    app = App()
    shut: list[str] = []

    @app.on_startup
    def broken(ctx: ProcessContext) -> None:
        raise RuntimeError("no database")

    app.on_shutdown(lambda ctx: shut.append("ran"))
    worker = Worker(app, {"default": 1}, redis_url=redis_url)
    with pytest.raises(RuntimeError, match="no database"):
        await worker.run()
    await worker.aclose()
    assert r.scard(Keys().processes) == 0
    assert shut == []  # nothing started, nothing to shut down


async def test_a_failing_shutdown_hook_is_logged_and_the_rest_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()
    ran: list[str] = []
    app.on_shutdown(lambda ctx: ran.append("first"))

    @app.on_shutdown
    async def broken(ctx: ProcessContext) -> None:
        raise RuntimeError("close failed")

    with caplog.at_level(logging.ERROR):
        async with app.lifespan() as ctx:
            assert ctx is app.context
    assert ran == ["first"]
    assert "shutdown hook" in caplog.text and "close failed" in caplog.text


async def test_lifespan_runs_shutdown_when_the_body_raises() -> None:
    app = App()
    ran: list[str] = []
    app.on_startup(lambda ctx: ran.append("up"))
    app.on_shutdown(lambda ctx: ran.append("down"))
    with pytest.raises(KeyError):
        async with app.lifespan():
            raise KeyError("x")
    assert ran == ["up", "down"]


async def test_worker_stopped_while_running_runs_shutdown_hooks(redis_url: str) -> None:
    app = App()
    ran: list[str] = []
    app.on_shutdown(lambda ctx: ran.append("down"))
    worker = Worker(app, {"default": 1}, redis_url=redis_url, block_timeout=0.2)
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0.3)
    worker.stop()
    await task
    await worker.aclose()
    assert ran == ["down"]


async def test_the_readme_example_app_runs() -> None:
    from examples.lifecycle_app import app, count_visit

    async with app.lifespan() as ctx:
        count_visit("/home")
        assert ctx.db.execute("select page from visits").fetchall() == [("/home",)]
