"""``verk-compat migrate MODE``: move queues between Resque, Sidekiq, namespaces, Verk 1.x, servers.

Thin: parses options, calls :func:`verk_compat.migrate.migrate`, prints progress (a bar on a
terminal, :mod:`verk_compat.cli.progress`) and the count check. Redis keys: those of
:mod:`verk_compat.migrate.plans` and :mod:`verk_compat.migrate.engine`
(``verk:quarantine:<source key>``, ``verk:migrate:progress:<source key>``,
``verk:migrate:applied``).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
import redis

from verk_compat.cli.progress import MigrationProgress
from verk_compat.errors import VerkError
from verk_compat.migrate import MODES, Result
from verk_compat.migrate import migrate as run_migration
from verk_compat.migrate.copy import copy_keys
from verk_compat.redis_url import resolve, sync_client

__all__ = ["migrate"]

_COUNTS = ("before", "moved", "quarantined", "unchanged", "left")


def _line(entry: dict[str, Any]) -> str:
    counts = ", ".join(f"{name} {entry[name]}" for name in _COUNTS)
    extra = f", conflicts {entry['conflicts']}" if entry["conflicts"] else ""
    extra += f", recovered {entry['recovered']}" if entry["recovered"] else ""
    return f"  {entry['source']} -> {entry['target']}: {counts}{extra}"


def render(result: Result) -> str:
    """The human summary: one line per key, samples, reasons, the count check."""
    data = result.as_dict()
    title = f"migrate {data['mode']}" + (" (dry run: nothing written)" if data["dry_run"] else "")
    lines = [title]
    for entry in data["keys"]:
        lines.append(_line(entry) + ("" if entry["ok"] else "  COUNT MISMATCH"))
        lines += [f"    sample: {sample}" for sample in entry["samples"]]
        lines += [f"    quarantine reason: {reason}" for reason in entry["reasons"]]
    lines += _left_alone(data["ignored"], data["unhandled"])
    t = data["totals"]
    check = (
        f"check: before {t['before']} = moved {t['moved']} + quarantined {t['quarantined']}"
        f" + unchanged {t['unchanged']} + left {t['left']}"
    )
    if data["expected"] is not None:
        check += f"; source held {data['expected']} job(s)"
        if not result.covered:
            check += f" but the keys moved held {t['before']}"
    lines.append(check + ("  OK" if data["ok"] else "  MISMATCH (the source changed meanwhile?)"))
    return "\n".join(lines)


def _left_alone(ignored: dict[str, str], unhandled: list[str]) -> list[str]:
    """Keys left on purpose, grouped by reason; then every unhandled key, one per line."""
    lines = []
    by_reason: dict[str, list[str]] = {}
    for key, reason in ignored.items():
        by_reason.setdefault(reason, []).append(key)
    for reason, keys in by_reason.items():
        more = f" (+{len(keys) - 5} more)" if len(keys) > 5 else ""
        lines.append(f"  left alone ({reason}): {', '.join(keys[:5])}{more}")
    if unhandled:
        lines.append(f"  NOT HANDLED ({len(unhandled)} key(s) of the source not migrated):")
        lines += [f"    {key}" for key in unhandled]
    return lines


def _copy(
    src: redis.Redis,
    dst: redis.Redis | None,
    namespace: str,
    dry_run: bool,
    as_json: bool,
    skip_unhandled: bool,
) -> None:
    if dst is None:
        raise click.UsageError("copy needs --to-url (another Redis); the source is not changed")
    done = copy_keys(src, dst, namespace=namespace, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(done.as_dict()))
    else:
        verb = "would copy" if dry_run else "copied"
        click.echo(f"{verb} {len(done.copied)} keys; the source is unchanged")
        for key in done.conflicts:
            click.echo(f"conflict: {key} exists on the target (not overwritten)")
        for line in _left_alone(done.reasons, done.unhandled):
            click.echo(line)
    if not done.ok:
        raise SystemExit(1)
    _fail_on_unhandled(done.unhandled, skip_unhandled)


def _client(url: str) -> redis.Redis:
    client = sync_client(url)
    client.ping()
    return client


@click.command()
@click.argument("mode", type=click.Choice((*MODES, "copy")))
@click.option("--from-url", envvar="REDIS_URL", help="Source Redis URL [env REDIS_URL].")
@click.option("--to-url", help="Target Redis URL (default: the source).")
@click.option("--namespace", default="", help="Sidekiq namespace (see --help of each mode).")
@click.option("--to-namespace", default="", help="namespace mode: target namespace (plain).")
@click.option("--resque-namespace", default="resque", show_default=True)
@click.option("--queue", "queues", multiple=True, help="Only this queue (repeatable).")
@click.option(
    "--failed",
    type=click.Choice(("dead", "retry", "skip")),
    default="dead",
    show_default=True,
    help="resque-to-sidekiq: where Resque's failed list goes.",
)
@click.option(
    "--profile",
    type=click.Choice(("sidekiq6", "sidekiq7", "sidekiq8")),
    default="sidekiq7",
    show_default=True,
)
@click.option("--dry-run", is_flag=True, help="Count and show samples; write nothing.")
@click.option(
    "--skip-unhandled",
    is_flag=True,
    help="Exit 0 even if keys of the source were not migrated (they are still listed).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def migrate(
    mode: str,
    from_url: str | None,
    to_url: str | None,
    namespace: str,
    to_namespace: str,
    resque_namespace: str,
    queues: tuple[str, ...],
    failed: str,
    profile: str,
    dry_run: bool,
    skip_unhandled: bool,
    as_json: bool,
) -> None:
    """Migrate queued jobs. MODE is one of:

    \b
    resque-to-sidekiq  resque:queue:Q -> queue:Q (order kept), resque:failed -> dead
    sidekiq-to-resque  queue:Q -> resque:queue:Q as {"class","args"} (order kept)
    namespace          NS:* -> plain keys (--namespace NS), or to --to-namespace
    verk-to-sidekiq    Verk 1.x payloads -> Sidekiq (in place on one server)
    sidekiq-to-verk    Sidekiq payloads -> Verk 1.x (in place on one server)
    move               every Sidekiq data key from --from-url to --to-url (removed from the source)
    copy               the same keys copied to --to-url; the source is left as it was

    --namespace is the Sidekiq target namespace for resque-to-sidekiq and verk-to-sidekiq,
    the source namespace otherwise (sidekiq-to-verk included). Each job moves exactly once;
    payloads that cannot be converted go to verk:quarantine:<source key>. resque-to-sidekiq
    also moves resque-scheduler's delayed jobs (delayed:<ts>) into schedule. Every key of the
    source left alone is listed (with its reason if deliberate). Exits 1 if the final count
    check fails, or if a key of the source was not handled (unless --skip-unhandled).
    """
    try:
        src = _client(resolve(from_url))
        dst = _client(to_url) if to_url else None
        if mode == "copy":
            _copy(src, dst, namespace, dry_run, as_json, skip_unhandled)
            return
        out = sys.stderr if as_json else sys.stdout
        shown = MigrationProgress(out, tty=out.isatty())
        result = run_migration(
            mode,  # type: ignore[arg-type]  # click.Choice(MODES)
            src,
            dst,
            namespace=namespace,
            to_namespace=to_namespace,
            resque_namespace=resque_namespace,
            queues=queues or None,
            failed=failed,  # type: ignore[arg-type]  # click.Choice
            profile=profile,  # type: ignore[arg-type]  # click.Choice
            dry_run=dry_run,
            progress=shown.line,
            every=shown.every,
            tick=shown.tick,
        )
        shown.close()
    except (redis.RedisError, VerkError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(result.as_dict(), indent=2) if as_json else render(result))
    if not result.ok:
        raise SystemExit(1)
    _fail_on_unhandled(result.unhandled, skip_unhandled)


def _fail_on_unhandled(unhandled: list[str], skip_unhandled: bool) -> None:
    if unhandled and not skip_unhandled:
        click.echo(
            f"verk-compat: {len(unhandled)} key(s) of the source were not migrated; "
            "rerun with --skip-unhandled to accept that",
            err=True,
        )
        raise SystemExit(1)
