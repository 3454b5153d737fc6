"""Shared plumbing of the admin commands: options, the Redis session, tables and JSON output.

A command opens Redis through :func:`session`; a connection failure or timeout anywhere inside
ends the command with exit code 2 and a message naming ``host:port`` (never the password).

Keys touched: none here (see :mod:`verk_compat.api`).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import click
import redis

from verk_compat.api import connect
from verk_compat.keys import Keys
from verk_compat.redis_url import resolve, where

__all__ = [
    "RedisUnreachable",
    "admin_options",
    "emit",
    "fmt_age",
    "fmt_time",
    "render_table",
    "session",
    "shorten",
]

F = TypeVar("F", bound=Callable[..., Any])


class RedisUnreachable(click.ClickException):
    """Redis could not be reached or answered too slowly: exit code 2."""

    exit_code = 2


def admin_options(func: F) -> F:
    """Add ``--redis-url`` (env ``REDIS_URL``), ``--namespace`` and ``--json`` to a command."""
    func = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")(func)
    func = click.option("--namespace", help="redis-namespace style key prefix.")(func)
    return click.option("--redis-url", envvar="REDIS_URL", help="Redis URL [env REDIS_URL].")(func)


@contextmanager
def session(redis_url: str | None, namespace: str | None) -> Iterator[tuple[redis.Redis, Keys]]:
    """A client and key builder; Redis connection errors become :class:`RedisUnreachable`."""
    try:
        client = connect(resolve(redis_url))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--redis-url") from None
    place = where(client)
    try:
        client.ping()  # a refused database (``/99``) fails here, not as an empty listing
        yield client, Keys(namespace or "")
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise RedisUnreachable(f"Redis at {place} is unreachable: {exc}") from None
    except redis.ResponseError as exc:
        raise click.ClickException(f"Redis at {place}: {exc}") from None
    finally:
        client.close()


def emit(as_json: bool, data: Any, human: Callable[[], str], problems: Sequence[str] = ()) -> None:
    """Print ``data`` as JSON, or the text ``human()`` builds; then each of ``problems`` (what
    could not be read) on stderr, one ``unreadable ...`` line each.

    The JSON is always valid: a float that JSON cannot hold (``inf``, ``nan``) is written as a
    string (``"inf"``).
    """
    if as_json:
        click.echo(json.dumps(_json_safe(data), ensure_ascii=False, default=str, allow_nan=False))
    else:
        click.echo(human())
    for problem in problems:
        line = problem if problem.startswith("unreadable") else f"unreadable {problem}"
        click.echo(f"verk-compat: {line}", err=True)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table: columns padded to their widest cell, numbers right-aligned."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    numeric = [all(_is_number(r[i]) for r in rows) and bool(rows) for i in range(len(headers))]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [
            cell.rjust(width) if num else cell.ljust(width)
            for cell, width, num in zip(row, widths, numeric, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def fmt_age(seconds: float) -> str:
    """A duration for people: ``0.4s``, ``12s``, ``3m04s``, ``2h05m``, ``3d04h``."""
    if not math.isfinite(seconds):
        return f"(unreadable: {seconds!r})"
    if seconds < 0:
        return "-" + fmt_age(-seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def fmt_time(epoch: float | None) -> str:
    """Epoch seconds as ``YYYY-MM-DD HH:MM:SSZ`` (UTC); ``-`` for none; ``(unreadable: 1e+20)``
    when no date shows it."""
    if epoch is None:
        return "-"
    try:
        return _dt.datetime.fromtimestamp(epoch, _dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    except (OverflowError, ValueError, OSError):
        return f"(unreadable: {epoch!r})"


def shorten(text: str | None, width: int = 50) -> str:
    """One line of at most ``width`` characters (``…`` marks a cut)."""
    if not text:
        return ""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"
