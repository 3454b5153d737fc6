"""``verk-compat cron list|enable|disable|run-now``: sidekiq-cron entries from the shell.

The same entries Ruby's ``Sidekiq::Cron::Job`` and Sidekiq Web's Cron tab show.
Keys touched: see :mod:`verk_compat.worker.cron` (``cron_jobs``, ``cron_job:<name>*``,
and for ``run-now`` ``queue:<q>`` and ``queues``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
import redis

from verk_compat.cli._admin import RedisUnreachable, admin_options, emit, fmt_time, render_table
from verk_compat.codec.cron_entry import CronEntry, CronEntryError
from verk_compat.codec.cron_expr import CronError
from verk_compat.codec.job import now
from verk_compat.keys import Keys
from verk_compat.redis_url import async_client, resolve, where
from verk_compat.worker.cron import CronStore

__all__ = ["cron"]

T = TypeVar("T")


def _run(
    redis_url: str | None, namespace: str | None, work: Callable[[CronStore], Awaitable[T]]
) -> T:
    """Run ``work`` with a store; Redis connection errors exit 2 naming ``host:port``."""

    async def main() -> T:
        try:
            client = async_client(resolve(redis_url))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--redis-url") from None
        try:
            return await work(CronStore(client, Keys(namespace or "")))
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise RedisUnreachable(f"Redis at {where(client)} is unreachable: {exc}") from None
        finally:
            await client.aclose()

    return asyncio.run(main())


def _next(entry: CronEntry, stamp: float) -> float | None:
    try:
        return entry.expr().next_time(stamp)
    except CronError:
        return None


def _summary(entry: CronEntry | CronEntryError, stamp: float) -> dict[str, Any]:
    if isinstance(entry, CronEntryError):
        return {"error": str(entry)}
    return {
        "name": entry.name,
        "status": entry.status,
        "cron": entry.cron,
        "class": entry.klass,
        "queue": entry.queue,
        "args": entry.args,
        "description": entry.description,
        "last_enqueue_time": entry.last_enqueue_time,
        "next_time": _next(entry, stamp),
    }


@click.group()
def cron() -> None:
    """Periodic jobs (sidekiq-cron entries): list, enable, disable, run-now."""


@cron.command(name="list")
@admin_options
def list_entries(redis_url: str | None, namespace: str | None, as_json: bool) -> None:
    """List every cron entry (Ruby's and Python's): status, schedule, last and next run."""
    found = [_summary(e, now()) for e in _run(redis_url, namespace, lambda s: s.all())]

    def human() -> str:
        good = [e for e in found if "error" not in e]
        rows = [
            (
                e["name"],
                e["status"],
                e["cron"],
                e["class"],
                e["queue"],
                fmt_time(e["last_enqueue_time"]),
                fmt_time(e["next_time"]),
            )
            for e in good
        ]
        headers = ("name", "status", "cron", "class", "queue", "last", "next")
        lines = [render_table(headers, rows)]
        lines += [f"unreadable: {e['error']}" for e in found if "error" in e]
        return "\n".join(lines) + f"\n({len(good)} entries)"

    emit(as_json, found, human)


def _status_command(name: str, status: str) -> click.Command:
    @click.command(name=name, help=f"Set cron entry NAME to {status}.")
    @click.argument("entry")
    @admin_options
    def command(entry: str, redis_url: str | None, namespace: str | None, as_json: bool) -> None:
        found = _run(redis_url, namespace, lambda s: s.set_status(entry, status))
        if not found:
            raise click.ClickException(f"no cron entry named {entry!r}")
        emit(as_json, {"name": entry, "status": status}, lambda: f"{entry}: {status}")

    return command


cron.add_command(_status_command("enable", "enabled"))
cron.add_command(_status_command("disable", "disabled"))


@cron.command(name="run-now")
@click.argument("entry")
@admin_options
def run_now(entry: str, redis_url: str | None, namespace: str | None, as_json: bool) -> None:
    """Enqueue cron entry ENTRY's job at once (its schedule is unchanged)."""

    async def work(store: CronStore) -> tuple[CronEntry, str]:
        found = await store.find(entry)
        if found is None:
            raise click.ClickException(f"no cron entry named {entry!r}")
        return found, await store.enqueue_now(found)

    try:
        found, jid = _run(redis_url, namespace, work)
    except CronEntryError as exc:
        raise click.ClickException(str(exc)) from None
    data = {"name": entry, "jid": jid, "queue": found.queue}
    emit(as_json, data, lambda: f"{entry}: enqueued {found.klass} to {found.queue} (jid {jid})")
