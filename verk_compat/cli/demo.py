"""``verk-compat demo``: enqueue, run, fail and retry, on an embedded Redis by default."""

from __future__ import annotations

import logging
import os

import click

from verk_compat.cli._errors import check_redis
from verk_compat.devtools.demo import run_demo
from verk_compat.devtools.redis_server import ServerNotFound

__all__ = ["demo"]


@click.command()
@click.option(
    "--redis-url",
    default=lambda: os.environ.get("REDIS_URL", ""),
    help="Redis to use (default $REDIS_URL; without it, a private redis-server is started).",
)
@click.option("--jobs", default=10_000, show_default=True, help="How many no-op jobs to add.")
def demo(redis_url: str, jobs: int) -> None:
    """Show verk-compat end to end: Sidekiq payloads in, Python jobs run, retries out."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if redis_url:
        check_redis(redis_url)
    try:
        result = run_demo(redis_url or None, jobs)
    except ServerNotFound as exc:  # no REDIS_URL and nothing to start: say how to get one
        raise click.ClickException(str(exc)) from None
    ok = result["processed"] == jobs + 3 and result["retries"] == 1
    click.echo("\nDemo finished." if ok else "\nDemo finished, but the counts are unexpected.")
    if not ok:
        raise SystemExit(1)
