"""``verk-compat enqueue``: push one job (now, at a time, or in N seconds) and print its jid.

Redis keys written: ``queues`` + ``queue:<q>`` (SADD + LPUSH), ``schedule`` (ZADD) with ``--at``
or ``--in``; ``resque:queues`` + ``resque:queue:<q>`` with ``--resque``; ``queue:<q>`` /
``schedule`` in Verk's format with ``--verk`` (see :mod:`verk_compat.client.client`).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import click

from verk_compat.client.client import Client
from verk_compat.client.options import OPTION_NAMES
from verk_compat.client.planner import Target
from verk_compat.errors import InvalidJob, RedisUnavailable, VerkError
from verk_compat.redis_url import resolve

__all__ = ["enqueue"]


#: Payload keys that have their own flag: ``-o queue=..`` is honoured unless ``--queue`` is given.
_FLAGGED = {"queue": "--queue", "retry": "--retry", "jid": "--jid"}
_DEPTH = "about 1,000 levels at most"
#: Payload keys that are positional arguments.
_POSITIONAL = {"class": "CLASS", "class_name": "CLASS", "args": "ARGS_JSON"}


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise click.BadParameter(
            f"{what} is nested too deep (about 1,000 levels at most)"
        ) from None
    except ValueError as exc:  # not JSON, or an integer of more than 4,300 digits
        raise click.BadParameter(f"{what} is not valid JSON: {exc}") from None


def parse_retry(text: str) -> bool | int:
    """``true``/``false`` or a count of retries, as Sidekiq's ``retry`` option."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(lowered)
    except ValueError:
        raise click.BadParameter(
            f"--retry must be true, false or an integer, not {text!r}"
        ) from None


def parse_at(text: str) -> float:
    """Epoch seconds, or an ISO-8601 time (naive times are local, as Ruby's ``Time``)."""
    try:
        return check_time(float(text), "--at", text)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise click.BadParameter(f"--at must be epoch seconds or ISO-8601, not {text!r}") from None


def check_time(epoch: float, flag: str, given: object) -> float:
    """``epoch`` if a date can show it (years 1 to 9999); else a usage error naming ``flag``.

    NaN is refused by Redis, ``inf`` never runs, and ``1e20`` is no date: none is a time to run.
    """
    try:
        dt.datetime.fromtimestamp(epoch, dt.UTC)
    except (OverflowError, ValueError, OSError):
        raise click.BadParameter(
            f"{flag} {given!r} is not a time (a date from year 1 to 9999)"
        ) from None
    return epoch


def parse_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=JSON`` pairs (a value that is not JSON is taken as a string)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"--option takes KEY=JSON, not {pair!r}")
        if key in _POSITIONAL:
            raise click.BadParameter(f"{key} is the {_POSITIONAL[key]} argument, not an option")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
        except (ValueError, RecursionError):  # JSON, but nested too deep or too many digits
            options[key] = _json(value, f"--option {key}")
    return options


def _with_flags(options: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    """``options`` with ``queue``/``retry``/``jid`` from their flags, unless only ``-o`` set one.

    Raises:
        click.UsageError: a key given both ways.
    """
    ctx = click.get_current_context()
    merged = dict(options)
    for key, value in flags.items():
        source = ctx.get_parameter_source(key)
        given = source is not None and source is not click.core.ParameterSource.DEFAULT
        if key in options and given:
            raise click.UsageError(f"give {_FLAGGED[key]} or -o {key}=..., not both")
        if key not in options:
            merged[key] = value
    return merged


@click.command()
@click.argument("class_name", metavar="CLASS")
@click.argument("args_json", metavar="[ARGS_JSON]", default="[]")
@click.option("--queue", "-q", default="default", show_default=True, help="Queue name.")
@click.option("--retry", "retry", default="true", show_default=True, help="true, false or N.")
@click.option("--at", "at", help="Run at this time: epoch seconds or ISO-8601.")
@click.option("--in", "in_", type=float, help="Run in this many seconds.")
@click.option("--jid", help="Job id (default: 24 random hex digits).")
@click.option("--option", "-o", "opts", multiple=True, help="Extra payload key: KEY=JSON.")
@click.option("--namespace", help="redis-namespace style key prefix.")
@click.option(
    "--profile",
    type=click.Choice(["sidekiq7", "sidekiq8"]),
    default="sidekiq7",
    show_default=True,
    help="Timestamp format: float seconds (7) or integer ms (8).",
)
@click.option("--resque", is_flag=True, help="Push a Resque job (resque:queue:<q>) instead.")
@click.option("--verk", is_flag=True, help="Write the job as Verk.enqueue does (Verk 1.x).")
@click.option("--redis-url", envvar="REDIS_URL", help="Redis URL [env REDIS_URL].")
def enqueue(
    class_name: str,
    args_json: str,
    queue: str,
    retry: str,
    at: str | None,
    in_: float | None,
    jid: str | None,
    opts: tuple[str, ...],
    namespace: str | None,
    profile: str,
    resque: bool,
    verk: bool,
    redis_url: str | None,
) -> None:
    """Enqueue a job of CLASS with ARGS_JSON (a JSON array) and print its jid."""
    args = _json(args_json, "ARGS_JSON")
    if not isinstance(args, list):
        raise click.BadParameter("ARGS_JSON must be a JSON array, e.g. '[1, \"two\"]'")
    if at is not None and in_ is not None:
        raise click.UsageError("give --at or --in, not both")
    flags = {"queue": queue, "retry": parse_retry(retry), "jid": jid}
    options = _with_flags(parse_options(opts), flags)
    if resque and verk:
        raise click.UsageError("give --resque or --verk, not both")
    target: Target = "resque" if resque else "verk" if verk else "sidekiq"
    when = parse_at(at) if at is not None else None
    if in_ is not None:
        check_time(time.time() + in_, "--in", in_)
    try:
        client = Client(
            resolve(redis_url),
            namespace=namespace,
            profile="sidekiq8" if profile == "sidekiq8" else "sidekiq7",
            target=target,
        )
        with client:
            click.echo(_push(client, class_name, args, when, in_, options))
    except (InvalidJob, RedisUnavailable, VerkError, ValueError, TypeError) as exc:
        raise click.ClickException(str(exc)) from None
    except RecursionError:
        raise click.ClickException(
            "args are nested too deep (about 1,000 levels at most)"
        ) from None


def _push(
    client: Client,
    class_name: str,
    args: list[Any],
    at: float | None,
    in_: float | None,
    options: dict[str, Any],
) -> str:
    # -o KEY=JSON takes job options and any other payload key alike: the latter go in extra.
    named = {k: v for k, v in options.items() if k in OPTION_NAMES or k in _FLAGGED}
    extra = {k: v for k, v in options.items() if k not in named}
    if in_ is not None:
        return client.enqueue_in(in_, class_name, args, extra=extra, **named)
    if at is not None:
        return client.schedule(class_name, args, at=at, extra=extra, **named)
    return client.enqueue(class_name, args, extra=extra, **named)
