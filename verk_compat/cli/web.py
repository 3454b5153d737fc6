"""``verk-compat web``: serve the dashboard with uvicorn (extra ``web``).

Binds 127.0.0.1 by default, where it needs no login. Any other address is refused unless
``VERK_WEB_USER`` and ``VERK_WEB_PASSWORD`` are set (HTTP basic auth then guards every page):
the pages show job arguments even in ``--read-only`` mode.

Keys touched: see :mod:`verk_compat.web`.
"""

from __future__ import annotations

import os

import click

__all__ = ["web"]


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=7433, show_default=True, type=click.IntRange(0, 65535))
@click.option("--redis-url", envvar="REDIS_URL", help="Redis URL [env REDIS_URL].")
@click.option("--namespace", default="", help="redis-namespace style key prefix.")
@click.option("--read-only", is_flag=True, help="Show everything, change nothing.")
@click.option("--metrics/--no-metrics", default=False, help="Serve Prometheus /metrics too.")
def web(
    host: str, port: int, redis_url: str | None, namespace: str, read_only: bool, metrics: bool
) -> None:
    """Serve the dashboard (Sidekiq Web's pages, for Ruby and Python processes alike)."""
    try:
        import uvicorn

        from verk_compat.web import create_app, credentials_from_env
        from verk_compat.web.security import bind_refusal
    except ImportError as exc:
        raise click.ClickException(
            f"the dashboard needs the 'web' extra: pip install 'verk-compat[web]' ({exc})"
        ) from None
    credentials = credentials_from_env()
    refusal = bind_refusal(host, credentials)
    if refusal is not None:
        raise click.UsageError(refusal)
    secret = os.environ.get("VERK_WEB_SECRET", "").encode() or None
    try:
        app = create_app(
            redis_url,
            namespace=namespace,
            read_only=read_only,
            credentials=credentials,
            secret=secret,
            metrics=metrics,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--redis-url") from None
    mode = "read-only" if read_only else "read-write"
    login = "basic auth" if credentials else "no login"
    click.echo(f"verk-compat web on http://{host}:{port}/ ({mode}, {login})", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
