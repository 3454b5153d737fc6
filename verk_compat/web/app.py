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
from collections.abc import Sequence
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from redis import Redis
from redis import exceptions as redis_errors
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute

from verk_compat.api import connect
from verk_compat.keys import Keys
from verk_compat.redis_url import resolve, where
from verk_compat.web.actions import ROUTES as ACTION_ROUTES
from verk_compat.web.context import Settings, settings_of
from verk_compat.web.format import age, args_text, kib, utc
from verk_compat.web.pages import ROUTES as PAGE_ROUTES
from verk_compat.web.security import BasicAuth, Credentials

__all__ = ["create_app", "credentials_from_env"]


def credentials_from_env(environ: dict[str, str] | None = None) -> Credentials | None:
    """``VERK_WEB_USER``/``VERK_WEB_PASSWORD`` when both are set and non-empty."""
    env = os.environ if environ is None else environ
    user, password = env.get("VERK_WEB_USER", ""), env.get("VERK_WEB_PASSWORD", "")
    return Credentials(user, password) if user and password else None


def _unreachable(request: Request, exc: Exception) -> Response:
    """503 naming ``host:port`` (never the URL: it may hold a password)."""
    place = settings_of(request).place
    body = f"Redis at {place} is unreachable ({type(exc).__name__}); try again later.\n"
    return PlainTextResponse(body, status_code=503, headers={"Retry-After": "5"})


def create_app(
    redis_url: str | None = None,
    *,
    namespace: str = "",
    read_only: bool = False,
    credentials: Credentials | None = None,
    secret: bytes | None = None,
    refresh: int = 5,
    redis: Redis | None = None,
    extra_routes: Sequence[BaseRoute] = (),
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
        redis: A sync client to use instead of ``redis_url``.
        extra_routes: Routes served before the pages (``verk-compat web --metrics`` adds
            ``/metrics`` this way).
    """
    client = redis if redis is not None else connect(resolve(redis_url))
    env = Environment(
        loader=PackageLoader("verk_compat.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters.update(age=age, utc=utc, kib=kib, args_text=args_text)
    settings = Settings(
        redis=client,
        keys=Keys(namespace),
        read_only=read_only,
        secret=secret or secrets.token_bytes(32),
        refresh=max(1, refresh),
        place=where(client),
        env=env,
    )
    routes: list[BaseRoute] = [*extra_routes, *ACTION_ROUTES, *PAGE_ROUTES]
    handlers: dict[Any, Any] = {
        redis_errors.ConnectionError: _unreachable,
        redis_errors.TimeoutError: _unreachable,
    }
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.state.verk = settings
    return BasicAuth(app, credentials) if credentials is not None else app
