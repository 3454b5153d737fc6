"""``verk-compat web``: a dashboard in the spirit of Sidekiq Web, on the same Redis data.

Optional extra ``web`` (Starlette, Jinja2, uvicorn). :func:`create_app` returns an ASGI app to
serve standalone or mount in FastAPI/Starlette/Django ASGI. Every process that heartbeats the
Sidekiq way (Ruby Sidekiq or verk-compat) shows up and can be quieted or stopped.

Keys touched: see :mod:`verk_compat.web.pages` (reads) and :mod:`verk_compat.web.actions`.
"""

from __future__ import annotations

from verk_compat.web.app import create_app, credentials_from_env
from verk_compat.web.security import Credentials

__all__ = ["Credentials", "create_app", "credentials_from_env"]
