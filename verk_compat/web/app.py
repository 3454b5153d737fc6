"""``create_app``: the dashboard as one ASGI app (Starlette), standalone or mounted.

Mount it under any prefix of an existing ASGI app (``app.mount("/jobs", create_app(...))`` in
FastAPI or Starlette; a path route in Django's ASGI router): links are built from the request's
``root_path``. Pages read Redis in Starlette's thread pool (the admin API is sync); forms POST,
each checked against the CSRF token and refused in read-only mode.

Keys touched: see :mod:`verk_compat.web.pages` and :mod:`verk_compat.web.actions`.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from redis import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from verk_compat.api import Stats, connect
from verk_compat.keys import Keys
from verk_compat.redis_url import resolve, where
from verk_compat.web import format as fmt
from verk_compat.web.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    BasicAuth,
    Credentials,
    csrf_token,
    new_cookie,
    valid_csrf,
)

__all__ = ["Settings", "create_app", "credentials_from_env", "render", "settings_of"]


@dataclass(slots=True)
class Settings:
    """What every handler needs: the client, keys, mode and the CSRF secret."""

    redis: Redis
    keys: Keys
    read_only: bool
    secret: bytes
    refresh: int
    place: str
    env: Environment = field(repr=False)


def credentials_from_env(environ: dict[str, str] | None = None) -> Credentials | None:
    """``VERK_WEB_USER``/``VERK_WEB_PASSWORD`` when both are set and non-empty."""
    env = os.environ if environ is None else environ
    user, password = env.get("VERK_WEB_USER", ""), env.get("VERK_WEB_PASSWORD", "")
    return Credentials(user, password) if user and password else None


def create_app(
    redis_url: str | None = None,
    *,
    namespace: str = "",
    read_only: bool = False,
    credentials: Credentials | None = None,
    secret: bytes | None = None,
    refresh: int = 5,
    metrics: bool = False,
    redis: Redis | None = None,
) -> Any:
    """The dashboard ASGI app.

    Args:
        redis_url: Redis URL (``REDIS_URL`` or localhost when ``None``); ignored with ``redis``.
        namespace: redis-namespace style key prefix.
        read_only: Hide every button and refuse every POST (403).
        credentials: Require HTTP basic auth with these (none: no login; mounting apps usually
            bring their own).
        secret: Key of the CSRF tokens (random per process when ``None``; give one when
            several server processes share the traffic).
        refresh: Seconds between reloads of a page in live mode.
        metrics: Serve Prometheus metrics of the queues at ``/metrics`` (extra ``metrics``).
        redis: A sync client to use instead of ``redis_url``.
    """
    from verk_compat.web import actions, pages

    client = redis if redis is not None else connect(resolve(redis_url))
    env = Environment(
        loader=PackageLoader("verk_compat.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters.update(age=fmt.age, utc=fmt.utc, kib=fmt.kib, args_text=fmt.args_text)
    settings = Settings(
        redis=client,
        keys=Keys(namespace),
        read_only=read_only,
        secret=secret or secrets.token_bytes(32),
        refresh=max(1, refresh),
        place=where(client),
        env=env,
    )
    routes: list[BaseRoute] = []
    if metrics:
        routes.append(_metrics_route(client, settings.keys))
    routes += [*actions.ROUTES, *pages.ROUTES]
    app = Starlette(routes=routes)
    app.state.verk = settings
    return BasicAuth(app, credentials) if credentials is not None else app


def _metrics_route(client: Redis, keys: Keys) -> Route:
    """``GET /metrics``: the Redis gauges (read in the thread pool at each scrape)."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from verk_compat.metrics.queues import redis_registry

    registry = redis_registry(client, keys)

    def scrape(_request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", scrape)


def settings_of(request: Request) -> Settings:
    """The :class:`Settings` of the app serving ``request``."""
    settings: Settings = request.app.state.verk
    return settings


def root(request: Request) -> str:
    """The prefix the app is mounted under (``""`` standalone)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def render(request: Request, template: str, **context: Any) -> Response:
    """Render ``template`` with the common context and the CSRF cookie/token."""
    settings = settings_of(request)
    cookie = request.cookies.get(CSRF_COOKIE)
    fresh = cookie is None
    cookie = cookie or new_cookie()
    live = request.query_params.get("live") == "1"
    body = settings.env.get_template(template).render(
        root=root(request),
        path=request.url.path,
        read_only=settings.read_only,
        csrf_field=CSRF_FIELD,
        csrf=csrf_token(settings.secret, cookie),
        live=live,
        refresh=settings.refresh,
        summary=Stats(settings.redis, settings.keys),
        place=settings.place,
        **context,
    )
    response = HTMLResponse(body)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'"
    )
    if fresh:
        response.set_cookie(
            CSRF_COOKIE, cookie, httponly=True, samesite="strict", path=root(request) or "/"
        )
    return response


async def checked_form(request: Request) -> dict[str, list[str]] | Response:
    """The POSTed form (name -> values), or a 403 response (read-only, bad CSRF token)."""
    settings = settings_of(request)
    if settings.read_only:
        return PlainTextResponse("read-only dashboard\n", status_code=403)
    form = await request.form()
    token = form.get(CSRF_FIELD)
    if not valid_csrf(settings.secret, request.cookies.get(CSRF_COOKIE), str(token or "")):
        return PlainTextResponse("missing or bad CSRF token\n", status_code=403)
    return {key: [str(v) for v in form.getlist(key)] for key in form}


def back(request: Request, path: str) -> RedirectResponse:
    """303 to ``path`` under the mount prefix (POST-redirect-GET)."""
    return RedirectResponse(root(request) + path, status_code=303)
