"""``verk-compat processes``: live worker processes; ``quiet`` / ``stop IDENTITY`` signal one.

Keys touched: ``processes`` (SSCAN, SISMEMBER), ``<identity>`` (HMGET),
``<identity>-signals`` (LPUSH + EXPIRE 60; see :mod:`verk_compat.api.processes`).
"""

from __future__ import annotations

import click

from verk_compat.api import ProcessSet
from verk_compat.cli._admin import admin_options, emit, fmt_age, render_table, session
from verk_compat.codec.job import now

__all__ = ["processes"]


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
        return render_table(headers, rows) + f"\n({len(found)} live)"

    emit(as_json, found, human, problems)


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
