"""``verk-compat stats`` and ``verk-compat queues``: the dashboard numbers and the queue list.

Keys read: ``stat:processed``, ``stat:failed`` and their daily keys, ``schedule``, ``retry``,
``dead``, ``processes``, ``<identity>``, ``queues``, ``queue:<q>`` (see
:mod:`verk_compat.api.stats` and :mod:`verk_compat.api.queue`).
"""

from __future__ import annotations

import click
from redis.exceptions import ResponseError

from verk_compat.api import Queue, Stats
from verk_compat.api.values import shown
from verk_compat.cli._admin import admin_options, emit, fmt_age, render_table, session
from verk_compat.codec.job import now

__all__ = ["queues", "stats"]


@click.command()
@click.option(
    "--days", default=7, show_default=True, type=click.IntRange(0, 5 * 365), help="History days."
)
@admin_options
def stats(days: int, redis_url: str | None, namespace: str | None, as_json: bool) -> None:
    """Processed/failed counters, set sizes, busy workers and per-day history."""
    with session(redis_url, namespace) as (client, keys):
        current = Stats(client, keys)
        history = current.history(days) if days else []
    data = {
        **current.summary(),
        "history": [
            {"date": h.day.isoformat(), "processed": h.processed, "failed": h.failed}
            for h in history
        ],
    }

    def human() -> str:
        rows: list[tuple[str, int | str]] = [
            (name, value) for name, value in current.summary().items() if isinstance(value, int)
        ]
        rows.append(("default_queue_latency", fmt_age(current.default_queue_latency)))
        text = render_table(("stat", "value"), rows)
        if history:
            days_rows = [(h.day.isoformat(), h.processed, h.failed) for h in history]
            text += "\n\n" + render_table(("date", "processed", "failed"), days_rows)
        return text

    emit(as_json, data, human, current.problems)


@click.command()
@admin_options
def queues(redis_url: str | None, namespace: str | None, as_json: bool) -> None:
    """Every queue of the `queues` set with its size and latency."""
    problems: list[str] = []
    with session(redis_url, namespace) as (client, keys):
        stamp = now()
        rows = [_queue_row(q, stamp, problems) for q in Queue.all(client, keys, problems)]
    data = [{"name": n, "size": s, "latency": lat} for n, s, lat in rows]
    table = [(n, "unreadable" if s is None else s, fmt_age(x)) for n, s, x in rows]
    emit(as_json, data, lambda: render_table(("queue", "size", "latency"), table), problems)


def _queue_row(queue: Queue, stamp: float, problems: list[str]) -> tuple[str, int | None, float]:
    """Name, size (``None`` if the key is not a list) and latency of one queue."""
    name = shown(queue.name)
    if name != queue.name:
        problems.append(f"unreadable queue name (not UTF-8): {name}")
    try:
        size, latency, oldest = queue.size(), queue.latency(stamp), queue.oldest_unreadable()
    except ResponseError as exc:  # WRONGTYPE
        problems.append(f"unreadable {shown(queue.key)}: {exc}")
        return name, None, 0.0
    if oldest:
        problems.append(f"unreadable oldest job of {name}: {oldest}")
    return name, size, latency
