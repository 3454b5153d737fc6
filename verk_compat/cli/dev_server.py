"""``verk-compat dev-server``: a private Redis for development, until Ctrl-C.

Starts ``redis-server``, or the ``valkey-server`` of the ``embedded`` extra when Redis is not
installed (see :mod:`verk_compat.devtools.redis_server`), on a loopback port with nothing
saved to disk, and prints the ``REDIS_URL`` to export. For development only: its data is gone
when it stops, so never point a production worker at it.
"""

from __future__ import annotations

import signal
import threading

import click

from verk_compat.devtools.redis_server import EmbeddedRedis, ServerNotFound

__all__ = ["dev_server"]


@click.command("dev-server")
@click.option("--port", type=click.IntRange(1024, 65535), default=None, help="Default: a free one.")
def dev_server(port: int | None) -> None:
    """Run a throw-away Redis on 127.0.0.1 and print its URL (development only)."""
    try:
        server = EmbeddedRedis(port=port).start()
    except ServerNotFound as exc:
        raise click.ClickException(str(exc)) from None
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    click.echo(f"export REDIS_URL={server.url}   # {server.binary}; Ctrl-C stops it", err=False)
    try:
        stop.wait()
    finally:
        server.stop()
        click.echo("dev-server stopped; its data is gone")
