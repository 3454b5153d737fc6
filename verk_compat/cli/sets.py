"""``verk-compat retries|dead|scheduled``: list and act on Sidekiq's sorted sets of jobs.

``retries``: list, show, retry, delete, kill; ``dead``: list, show, retry, delete, clear;
``scheduled``: list, show, delete, enqueue. ``show JID`` prints the whole entry: the payload as
stored, with ``error_backtrace`` decoded into its lines. An action takes one JID or ``--all``;
each job moves atomically by its exact bytes (see :mod:`verk_compat.api.sets`).

Keys touched: ``retry``, ``dead``, ``schedule``, and ``queue:<q>`` + ``queues`` when a job goes
back to its queue.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from typing import Any

import click
from redis.exceptions import ResponseError

from verk_compat.api import DeadSet, JobSet, RetrySet, ScheduledSet, SortedEntry
from verk_compat.cli._admin import admin_options, emit, fmt_time, render_table, session, shorten
from verk_compat.codec.activejob import display_class
from verk_compat.errors import InvalidJob

__all__ = ["dead", "retries", "scheduled"]

SetClass = type[JobSet]


@dataclass(frozen=True)
class Action:
    """One subcommand acting on a JID or on ``--all``."""

    name: str
    done: str
    one: Callable[[Any, SortedEntry], bool]
    every: Callable[[Any], int]
    help: str


ACTIONS = {
    "retry": Action(
        "retry", "retried", lambda s, e: s.retry(e), lambda s: s.retry_all(),
        "Push the job back to its queue now (retry_count - 1, as Sidekiq's Retry Now).",
    ),
    "enqueue": Action(
        "enqueue", "enqueued", lambda s, e: s.add_to_queue(e), lambda s: s.add_all_to_queue(),
        "Push the job to its queue now (Sidekiq Web's Add to Queue).",
    ),
    "delete": Action(
        "delete", "deleted", lambda s, e: s.delete(e), lambda s: s.delete_all(),
        "Delete the job.",
    ),
    "kill": Action(
        "kill", "killed", lambda s, e: s.kill(e), lambda s: s.kill_all(),
        "Move the job to the dead set (trimmed to 10,000 jobs / 180 days).",
    ),
}  # fmt: skip

SCORE_LABEL = {"retry": "retry at", "dead": "died at", "schedule": "run at"}


def entry_row(entry: SortedEntry) -> tuple[Any, ...]:
    """One table row: time, jid, class, queue, retry_count, error."""
    job = entry.job
    if job is None:
        reason = shorten("unreadable: " + "; ".join(entry.unreadable()))
        return (fmt_time(entry.score), "-", "(invalid payload)", "", "", reason)
    error = f"{job.error_class}: {job.error_message}" if job.error_class else ""
    count = "" if job.retry_count is None else job.retry_count
    # An ActiveJob shows its Rails class, as Sidekiq Web's display_class does.
    return (fmt_time(entry.score), job.jid, display_class(job), job.queue, count, shorten(error))


def _list_command(set_cls: SetClass) -> click.Command:
    @click.command(name="list")
    @click.option("--limit", default=50, show_default=True, help="Entries shown (0 = all).")
    @admin_options
    def command(limit: int, redis_url: str | None, namespace: str | None, as_json: bool) -> None:
        """List entries, latest score first."""
        problems: list[str] = []
        with session(redis_url, namespace) as (client, keys):
            jobs = set_cls(client, keys=keys)
            try:
                size = jobs.size()
                entries = list(islice(jobs, limit or None))
            except ResponseError as exc:  # WRONGTYPE: the key is not a sorted set
                problems.append(f"unreadable {jobs.key}: {exc}")
                size, entries = 0, []
        data = {"set": set_cls.name, "size": size, "entries": [e.summary() for e in entries]}
        headers = (SCORE_LABEL[set_cls.name], "jid", "class", "queue", "retries", "error")
        for entry in entries:
            problems.extend(
                f"{set_cls.name} entry {_named(entry)}: {p}" for p in entry.unreadable()
            )

        def human() -> str:
            shown = f"{len(entries)} of {size} in {set_cls.name}"
            return render_table(headers, [entry_row(e) for e in entries]) + f"\n({shown})"

        emit(as_json, data, human, problems)

    return command


def _show_command(set_cls: SetClass) -> click.Command:
    @click.command(name="show")
    @click.argument("jid")
    @admin_options
    def command(jid: str, redis_url: str | None, namespace: str | None, as_json: bool) -> None:
        """Print the whole entry of JID, its stored backtrace decoded."""
        with session(redis_url, namespace) as (client, keys):
            entry = set_cls(client, keys=keys).find_job(jid)
        if entry is None:
            raise click.ClickException(f"no job with jid {jid} in {set_cls.name}")
        data, problems = entry_details(entry)
        data = {"set": set_cls.name, **data}
        emit(as_json, data, lambda: show_text(set_cls.name, data), problems)

    return command


def entry_details(entry: SortedEntry) -> tuple[dict[str, Any], list[str]]:
    """The entry's score and time, its payload (parsed JSON, or the text if it is none) and
    its decoded backtrace; and what could not be read."""
    problems = [f"jid {entry.jid}: {p}" for p in entry.unreadable()]
    try:
        payload: Any = json.loads(entry.raw)
    except ValueError:
        payload = entry.raw.decode("utf-8", "replace")
    try:
        backtrace = entry.backtrace()
    except InvalidJob as exc:
        backtrace = None
        problems.append(f"jid {entry.jid}: {exc}")
    data = {"score": entry.score, "at": fmt_time(entry.score), "payload": payload}
    return {**data, "backtrace": backtrace}, problems


def show_text(set_name: str, data: dict[str, Any]) -> str:
    """``show``'s text: time, the payload as indented JSON (a long encoded backtrace replaced
    by a pointer), then one line per backtrace frame."""
    payload = data["payload"]
    lines = data["backtrace"]
    if isinstance(payload, dict) and lines is not None and "error_backtrace" in payload:
        payload = {**payload, "error_backtrace": f"({len(lines)} lines, decoded below)"}
    body = json.dumps(payload, indent=2, ensure_ascii=False, default=str)
    text = f"{SCORE_LABEL[set_name]}: {data['at']}\n{body}"
    if lines is not None:
        text += "\nerror_backtrace:" + "".join(f"\n  {line}" for line in lines)
    return text


def _named(entry: SortedEntry) -> str:
    return f"jid {entry.jid}" if entry.jid else f"scored {entry.score!r}"


def _action_command(set_cls: SetClass, action: Action) -> click.Command:
    @click.command(name=action.name, help=f"{action.help} Give a JID or --all.")
    @click.argument("jid", required=False)
    @click.option("--all", "all_", is_flag=True, help="Every job of the set.")
    @admin_options
    def command(
        jid: str | None, all_: bool, redis_url: str | None, namespace: str | None, as_json: bool
    ) -> None:
        if bool(jid) == all_:
            raise click.UsageError("give one JID or --all")
        with session(redis_url, namespace) as (client, keys):
            jobs = set_cls(client, keys=keys)
            count = action.every(jobs) if all_ else _one(jobs, action, str(jid))
        data = {"set": set_cls.name, "action": action.name, "count": count, "jid": jid}
        emit(as_json, data, lambda: f"{action.done} {count} job(s) from {set_cls.name}")

    return command


def _one(jobs: JobSet, action: Action, jid: str) -> int:
    entry = jobs.find_job(jid)
    if entry is None:
        raise click.ClickException(f"no job with jid {jid} in {jobs.name}")
    try:
        moved = action.one(jobs, entry)
    except InvalidJob as exc:
        raise click.ClickException(str(exc)) from None
    if not moved:
        raise click.ClickException(f"job {jid} left {jobs.name} before it could be {action.done}")
    return 1


def _clear_command(set_cls: SetClass) -> click.Command:
    @click.command(name="clear")
    @admin_options
    def command(redis_url: str | None, namespace: str | None, as_json: bool) -> None:
        """Delete every job of the set."""
        with session(redis_url, namespace) as (client, keys):
            count = set_cls(client, keys=keys).clear()
        data = {"set": set_cls.name, "action": "clear", "count": count}
        emit(as_json, data, lambda: f"cleared {count} job(s) from {set_cls.name}")

    return command


def _group(name: str, set_cls: SetClass, actions: tuple[str, ...], help_text: str) -> click.Group:
    group = click.Group(name=name, help=help_text)
    group.add_command(_list_command(set_cls))
    group.add_command(_show_command(set_cls))
    for action in actions:
        group.add_command(_action_command(set_cls, ACTIONS[action]))
    if set_cls is DeadSet:
        group.add_command(_clear_command(set_cls))
    return group


retries = _group(
    "retries", RetrySet, ("retry", "delete", "kill"), "Jobs waiting to be retried (retry)."
)
dead = _group("dead", DeadSet, ("retry", "delete"), "Jobs out of retries (dead).")
scheduled = _group(
    "scheduled", ScheduledSet, ("delete", "enqueue"), "Jobs scheduled for later (schedule)."
)
