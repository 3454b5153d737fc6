"""What pages and actions share: the app's settings, rendering with the CSRF cookie and token,
the checked form of a POST, the redirect after it.

Keys read: those of ``Stats`` (the summary bar on every page).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jinja2 import Environment
from redis import Redis
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from verk_compat.api import Stats
from verk_compat.keys import Keys
from verk_compat.web.security import CSRF_COOKIE, CSRF_FIELD, csrf_token, new_cookie, valid_csrf

__all__ = ["Settings", "back", "checked_form", "render", "root", "settings_of"]


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
