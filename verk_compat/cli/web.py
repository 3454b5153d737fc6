"""``verk-compat web``: serve the dashboard with uvicorn (extra ``web``).

Binds 127.0.0.1 by default, where it needs no login. Any other address is refused unless
``VERK_WEB_USER`` and ``VERK_WEB_PASSWORD`` are set (HTTP basic auth then guards every page):
the pages show job arguments even in ``--read-only`` mode.

Keys touched: see :mod:`verk_compat.web`.
"""

from __future__ import annotations

import os
from typing import Any

import click
from redis import Redis

from verk_compat.api import connect
from verk_compat.cli._errors import check_redis
from verk_compat.keys import Keys
from verk_compat.redis_url import resolve

__all__ = ["metrics_route", "web"]


def metrics_route(client: Redis, keys: Keys) -> Any:
    """``GET /metrics`` for the dashboard: the Redis gauges (extras ``web`` and ``metrics``),
    read in Starlette's thread pool at each scrape."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from verk_compat.metrics.queues import redis_registry

    registry = redis_registry(client, keys)

    def scrape(_request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", scrape)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=7433, show_default=True, type=click.IntRange(0, 65535))
@click.option("--redis-url", envvar="REDIS_URL", help="Redis URL [env REDIS_URL].")
@click.option("--namespace", default="", help="redis-namespace style key prefix.")
@click.option("--read-only", is_flag=True, help="Show everything, change nothing.")
@click.option("--metrics/--no-metrics", default=False, help="Serve /metrics too (extra 'metrics').")
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
    check_redis(resolve(redis_url))
    client = connect(resolve(redis_url))
    routes = [metrics_route(client, Keys(namespace))] if metrics else []
    app = create_app(
        redis=client,
        namespace=namespace,
        read_only=read_only,
        credentials=credentials,
        secret=secret,
        extra_routes=routes,
    )
    mode = "read-only" if read_only else "read-write"
    login = "basic auth" if credentials else "no login"
    click.echo(f"verk-compat web on http://{host}:{port}/ ({mode}, {login})", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
