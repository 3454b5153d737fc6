"""Dashboard security decisions: CSRF tokens, HTTP basic credentials, the bind policy.

Everything here is pure but :class:`BasicAuth`, a thin ASGI middleware.

* CSRF: a random ``verk_csrf`` cookie (HttpOnly, SameSite=Strict) and, in every form, the token
  ``HMAC-SHA256(secret, cookie)``. A POST without a cookie, or whose token does not match, is
  refused (403). The secret is per app (random unless given), so a cookie an attacker plants
  from a sibling domain is useless without it.
* Bind policy: a loopback address needs no login; any other address needs credentials.

Keys touched: none.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "BasicAuth",
    "Credentials",
    "bind_refusal",
    "check_basic",
    "csrf_token",
    "is_loopback",
    "new_cookie",
    "valid_csrf",
]

CSRF_COOKIE = "verk_csrf"
CSRF_FIELD = "authenticity_token"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user name and password for HTTP basic auth (``repr`` hides the password)."""

    user: str
    password: str

    def __repr__(self) -> str:
        return f"Credentials(user={self.user!r}, password='***')"


def new_cookie() -> str:
    """A fresh random CSRF cookie value."""
    return secrets.token_urlsafe(32)


def csrf_token(secret: bytes, cookie: str) -> str:
    """The form token that goes with ``cookie``."""
    return hmac.new(secret, cookie.encode(), hashlib.sha256).hexdigest()


def valid_csrf(secret: bytes, cookie: str | None, token: str | None) -> bool:
    """True when both are present and ``token`` is the one of ``cookie`` (constant time)."""
    if not cookie or not token:
        return False
    return hmac.compare_digest(csrf_token(secret, cookie), token)


def check_basic(header: str | None, expected: Credentials) -> bool:
    """True when an ``Authorization: Basic ...`` header carries ``expected``."""
    if not header or not header.lower().startswith("basic "):
        return False
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    user, sep, password = decoded.partition(":")
    if not sep:
        return False
    same_user = hmac.compare_digest(user.encode(), expected.user.encode())
    same_password = hmac.compare_digest(password.encode(), expected.password.encode())
    return same_user and same_password


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IPs (``127.0.0.0/8``, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_refusal(host: str, credentials: Credentials | None) -> str | None:
    """Why ``verk-compat web`` must not bind ``host``, or ``None`` when it may.

    A non-loopback address is reachable by others; the dashboard shows job arguments (often
    personal data) even read-only, so it needs credentials there whatever the mode.
    """
    if is_loopback(host) or credentials is not None:
        return None
    return (
        f"refusing to bind {host}: not a loopback address and no credentials; "
        "set VERK_WEB_USER and VERK_WEB_PASSWORD (HTTP basic auth) or bind 127.0.0.1"
    )


class BasicAuth:
    """ASGI middleware: every HTTP request needs ``credentials`` (401 with a challenge)."""

    def __init__(self, app: ASGIApp, credentials: Credentials, realm: str = "verk-compat") -> None:
        self.app = app
        self.credentials = credentials
        self.realm = realm

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        header = headers.get(b"authorization", b"").decode("latin-1") or None
        if check_basic(header, self.credentials):
            await self.app(scope, receive, send)
            return
        challenge = f'Basic realm="{self.realm}", charset="UTF-8"'.encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"www-authenticate", challenge),
                    (b"content-type", b"text/plain; charset=utf-8"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"authentication required\n"})
