"""One worker process serving queues on several Redis servers (queues sharded by name).

:class:`ShardedWorker` runs one :class:`~verk_compat.worker.launcher.Worker` per server in the
same event loop: each has its own identity, heartbeat, in-progress lists, scheduler and orphan
recovery on its own server, so each server's Sidekiq Web sees a process serving its queues,
and a server's outage stops only its own queues. Stop, quiet and signals act on all of them.
The app's lifecycle hooks run once around them all (``app.context`` gets the first server's
identity and client). A cron entry lives on the server of the queue it pushes to; one whose
queue no shard serves is refused.

Keys touched: each inner worker's keys, on its own server.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Mapping
from typing import Any

from verk_compat.worker.app import App
from verk_compat.worker.launcher import Worker

__all__ = ["ShardedWorker"]


class ShardedWorker:
    """Runs ``app``'s jobs from ``shards``: Redis URL -> {queue: concurrency}."""

    def __init__(self, app: App, shards: Mapping[str, Mapping[str, int]], **options: Any) -> None:
        if not shards:
            raise ValueError("a sharded worker needs at least one server")
        seen: dict[str, str] = {}
        for url, queues in shards.items():
            for queue in queues:
                if queue in seen:
                    raise ValueError(f"queue {queue!r} is on two servers: {seen[queue]}, {url}")
                seen[queue] = url
        for entry in app.cron_entries.values():
            if entry.queue not in seen:
                raise ValueError(
                    f"cron entry {entry.name!r} pushes to queue {entry.queue!r}, which no shard "
                    "serves: a sharded worker cannot tell which server it belongs to"
                )
        self.app = app
        self.workers = [
            Worker(
                app,
                queues,
                redis_url=url,
                cron_entries=[e for e in app.cron_entries.values() if e.queue in queues],
                lifecycle=False,
                **options,
            )
            for url, queues in shards.items()
        ]

    async def run(self) -> None:
        """Run every inner worker until stopped (or, in burst mode, until all are drained), the
        app's startup and shutdown hooks around them; if one fails, the others are stopped
        gracefully and its error is raised."""
        first = self.workers[0]
        self.app.context.identity, self.app.context.redis = first.identity, first.redis
        async with self.app.lifespan():
            await self._run()

    async def _run(self) -> None:
        tasks = [asyncio.create_task(worker.run()) for worker in self.workers]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            failed = [t for t in done if not t.cancelled() and t.exception() is not None]
            if failed:
                self.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
            if failed:
                raise failed[0].exception()  # type: ignore[misc]
        finally:
            for task in tasks:
                task.cancel()

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()

    def set_quiet(self) -> None:
        for worker in self.workers:
            worker.set_quiet()

    def install_signal_handlers(self) -> None:
        """TERM/INT: graceful stop of every inner worker; TSTP: quiet them all."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop)
        loop.add_signal_handler(signal.SIGINT, self.stop)
        loop.add_signal_handler(signal.SIGTSTP, self.set_quiet)

    async def aclose(self) -> None:
        for worker in self.workers:
            await worker.aclose()
