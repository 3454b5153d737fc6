"""``verk-compat processes``: live worker processes and every identity's in-progress jobs (dead
ones too); ``quiet`` / ``stop IDENTITY`` signal one; ``verk-compat recover IDENTITY`` requeues a
dead identity's in-progress jobs.

Keys touched: ``processes`` (SSCAN, SISMEMBER), ``<identity>`` (HMGET, EXISTS),
``<identity>-signals`` (LPUSH + EXPIRE 60; see :mod:`verk_compat.api.processes`),
``inprogress:*`` (SCAN, LLEN; requeued by ``recover``, see :mod:`verk_compat.api.inprogress`).
"""

from __future__ import annotations

from typing import Any

import click

from verk_compat.api import InProgress, InProgressList, ProcessAlive, ProcessSet
from verk_compat.cli._admin import admin_options, emit, fmt_age, render_table, session
from verk_compat.codec.job import now

__all__ = ["processes", "recover"]


@click.group(invoke_without_command=True)
@admin_options
@click.pass_context
def processes(
    ctx: click.Context, redis_url: str | None, namespace: str | None, as_json: bool
) -> None:
    """List live processes (identity, queues, busy, beat age, quiet); see quiet/stop."""
    if ctx.invoked_subcommand is not None:
        return
    with session(redis_url, namespace) as (client, keys):
        stamp = now()
        live = ProcessSet(client, keys)
        found = [p.summary(stamp) for p in live]
        lists = InProgress(client, keys).by_identity()
    for p in found:
        _add_in_progress(p, lists.pop(p["identity"], []))
    # Identities with in-progress jobs and no live process: a dead worker's jobs, in no queue.
    dead = []
    for ident, entries in sorted(lists.items()):
        entry: dict[str, Any] = {"identity": ident, "kind": "dead", "busy": 0}
        entry["queues"] = [e.queue for e in entries]
        entry["alive"] = any(e.alive for e in entries)
        dead.append(_add_in_progress(entry, entries))
    problems = live.problems + [
        f"process {p['identity']}: {problem}" for p in found for problem in p.get("unreadable", ())
    ]

    def human() -> str:
        rows = [
            (
                p["identity"] + (" (verk node)" if p["kind"] == "verk" else ""),
                ",".join(p["queues"]),
                p["busy"],
                p["concurrency"],
                "unreadable" if p["beat_age"] is None else fmt_age(p["beat_age"]),
                "yes" if p["quiet"] else "no",
            )
            for p in found
        ]
        headers = ("identity", "queues", "busy", "threads", "beat", "quiet")
        text = render_table(headers, rows) + f"\n({len(found)} live)"
        return text + _in_progress_table(found + dead)

    emit(as_json, found + dead, human, problems)


def _add_in_progress(entry: dict[str, Any], lists: list[InProgressList]) -> dict[str, Any]:
    """``inprogress`` ({queue: jobs}) and ``inprogress_jobs`` ([{queue, jid, class}])."""
    entry["inprogress"] = {e.queue: e.size for e in lists}
    entry["inprogress_jobs"] = [
        {"queue": e.queue, "jid": rec.jid, "class": rec.display_class}
        for e in lists
        for rec in e.records
    ]
    return entry


def _in_progress_table(entries: list[dict[str, Any]]) -> str:
    """Jobs fetched and not acknowledged, per identity and queue; dead identities flagged."""
    rows = [
        (
            p["identity"],
            queue,
            size,
            "dead: verk-compat recover IDENTITY" if p["kind"] == "dead" else "live",
            _jids(p, queue),
        )
        for p in entries
        for queue, size in sorted(p.get("inprogress", {}).items())
    ]
    if not rows:
        return ""
    headers = ("identity", "queue", "in progress", "owner", "jobs")
    return "\n\nin progress (fetched, not acknowledged):\n" + render_table(headers, rows)


def _jids(entry: dict[str, Any], queue: str, most: int = 3) -> str:
    """``jid class`` of the first jobs of ``queue`` in ``entry`` (``+N`` for the rest)."""
    jobs = [j for j in entry.get("inprogress_jobs", []) if j["queue"] == queue]
    shown = ", ".join(f"{j['jid'] or '(invalid)'} {j['class'] or ''}".strip() for j in jobs[:most])
    return shown + (f" +{len(jobs) - most}" if len(jobs) > most else "")


@click.command()
@click.argument("identity", required=False)
@click.option("--force", is_flag=True, help="Requeue even if IDENTITY's heartbeat is fresh.")
@click.option("--all-dead", is_flag=True, help="Every identity whose heartbeat is gone.")
@admin_options
def recover(
    identity: str | None,
    force: bool,
    all_dead: bool,
    redis_url: str | None,
    namespace: str | None,
    as_json: bool,
) -> None:
    """Requeue the in-progress jobs of a dead process IDENTITY (or --all-dead), without
    starting a worker.

    Refuses a live identity (its heartbeat hash exists) unless --force: its jobs are running,
    and requeueing them would run them twice.
    """
    if (identity is not None) == all_dead or (all_dead and force):  # exactly one of the two
        raise click.UsageError("give an IDENTITY (optionally --force), or --all-dead alone")
    with session(redis_url, namespace) as (client, keys):
        api = InProgress(client, keys)
        try:
            moved = {identity: api.recover(identity, force=force)} if identity else {}
        except ProcessAlive as exc:
            raise click.ClickException(str(exc)) from None
        if all_dead:
            moved = api.recover_dead()
    data = [{"identity": who, "moved": m, "total": sum(m.values())} for who, m in moved.items()]

    def human() -> str:
        if not any(entry["total"] for entry in data):
            return f"{identity or 'no dead identity'}: no in-progress jobs to requeue"
        return "\n".join(
            f"requeued {n} job(s) of {who} to queue {q}"
            for who, m in moved.items()
            for q, n in m.items()
        )

    emit(as_json, data[0] if identity else data, human)


def _signal_command(name: str, signal: str, done: str, help_text: str) -> click.Command:
    @click.command(name=name, help=help_text)
    @click.argument("identity")
    @admin_options
    def command(identity: str, redis_url: str | None, namespace: str | None, as_json: bool) -> None:
        parent = click.get_current_context().parent
        params = parent.params if parent is not None else {}
        url = redis_url or params.get("redis_url")
        ns = namespace or params.get("namespace")
        with session(url, ns) as (client, keys):
            live = ProcessSet(client, keys)
            if live.get(identity) is None:
                if any(node.identity == identity for node in live.verk_nodes()):
                    raise click.ClickException(f"{identity!r} is a Verk node: it takes no signals")
                raise click.ClickException(f"no live process {identity!r} in processes")
            live.signal(identity, signal)
        data = {"identity": identity, "signal": signal}
        emit(as_json or bool(params.get("as_json")), data, lambda: f"{done} {identity} ({signal})")

    return command


processes.add_command(
    _signal_command("quiet", "TSTP", "quieted", "Stop IDENTITY fetching new jobs (TSTP).")
)
processes.add_command(
    _signal_command("stop", "TERM", "stopping", "Shut IDENTITY down gracefully (TERM).")
)
