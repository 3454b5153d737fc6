"""Every CLI failure is one line on stderr and a non-zero exit, never a Python traceback.

:class:`OneLineErrors` is the ``verk-compat`` group: an exception a command did not turn into a
:class:`click.ClickException` itself (a Redis reply error, an unreachable host, a bad value)
becomes ``Error: <what>`` and exit code 1. ``VERK_DEBUG=1`` shows the traceback instead.
:func:`check_redis` is the pre-flight check of the long-running commands. Touches no key
(``PING`` only).
"""

from __future__ import annotations

import os
from typing import Any

import click
import redis

from verk_compat.redis_url import sync_client, where

__all__ = ["OneLineErrors", "check_redis", "one_line"]


def one_line(exc: BaseException) -> str:
    """``exc`` as one line: its class when the message alone would not say what failed."""
    text = " ".join(str(exc).split())
    if isinstance(exc, redis.RedisError | OSError) or not text:
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text


def check_redis(url: str, option: str = "--redis-url") -> None:
    """PING ``url`` once: a bad URL, an unreachable server or a refused database (``/99``)
    is a one-line error now rather than a worker that retries forever.

    Raises:
        click.BadParameter: a malformed URL (exit code 2).
        click.ClickException: Redis did not answer the PING (exit code 1).
    """
    try:
        client = sync_client(url, socket_connect_timeout=5, socket_timeout=5)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None
    try:
        client.ping()
    except redis.RedisError as exc:
        raise click.ClickException(f"Redis at {where(client)}: {one_line(exc)}") from None
    finally:
        client.close()


class OneLineErrors(click.Group):
    """A group whose commands' unexpected exceptions end as one ``Error:`` line, exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if os.environ.get("VERK_DEBUG"):
                raise
            raise click.ClickException(
                f"{one_line(exc)} (VERK_DEBUG=1 shows the traceback)"
            ) from None
