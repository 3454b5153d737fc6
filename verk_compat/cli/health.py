"""``verk-compat health``: exit 0 if Redis answers and the worker heartbeats are fresh, else 1.

One line of output either way, for a container's liveness probe::

    verk-compat health                      # every worker process of this host
    verk-compat health --identity ID        # one process
    verk-compat health --max-age 30

Keys touched: see :mod:`verk_compat.api.health`.
"""

from __future__ import annotations

import sys

import click

from verk_compat.api.health import MAX_AGE, check
from verk_compat.keys import Keys
from verk_compat.redis_url import resolve, sync_client

__all__ = ["health"]


@click.command()
@click.option("--identity", help="A process identity (default: every process of this host).")
@click.option("--host", help="Judge this hostname's processes instead of this host's.")
@click.option("--max-age", default=MAX_AGE, show_default=True, type=float, help="Seconds.")
@click.option("--timeout", default=3.0, show_default=True, type=float, help="Redis timeout (s).")
@click.option("--redis-url", envvar="REDIS_URL", help="Redis URL [env REDIS_URL].")
@click.option("--namespace", help="redis-namespace style key prefix.")
def health(
    identity: str | None,
    host: str | None,
    max_age: float,
    timeout: float,
    redis_url: str | None,
    namespace: str | None,
) -> None:
    """Exit 0 when Redis is reachable and the heartbeats are fresh, 1 otherwise (one line)."""
    try:
        client = sync_client(
            resolve(redis_url), socket_timeout=timeout, socket_connect_timeout=timeout
        )
    except ValueError as exc:
        click.echo(f"FAIL {exc}")
        sys.exit(1)
    try:
        verdict = check(
            client, Keys(namespace or ""), identity=identity, host=host, max_age=max_age
        )
    finally:
        client.close()
    click.echo(verdict.line)
    sys.exit(0 if verdict.ok else 1)
