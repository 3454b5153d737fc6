"""A periodic job entry exactly as sidekiq-cron 1.8 stores it, and its tick decisions.

Pure: touches no Redis key itself. :mod:`verk_compat.worker.cron` reads and writes these
values at ``cron_jobs``, ``cron_job:<name>``, ``cron_job:<name>:enqueued`` and
``cron_job:<name>:jid_history``.

The hash fields, their order and their text are ``Sidekiq::Cron::Job#to_hash`` written by
redis-rb (``true``/``false``, ``""`` for nil); ``args`` and ``message`` are JSON text. The
``message`` is what gets pushed (its ``args`` replaced by the entry's ``args`` at each tick).
A tick is claimed, as sidekiq-cron does it, by adding its ISO 8601 UTC time to the
``:enqueued`` sorted set (score: its epoch): the process whose ``ZADD`` adds it enqueues.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from verk_compat.codec._schema import KEY_TO_NAME
from verk_compat.codec.cron_expr import CronError, CronExpr, parse
from verk_compat.codec.job import Job, check_args
from verk_compat.codec.ruby_json import check_json_native, dumps

__all__ = [
    "HISTORY_SIZE",
    "LATE_LIMIT",
    "REMEMBER",
    "CronEntry",
    "CronEntryError",
    "due_tick",
    "enqueue_time_text",
    "entries_from_schedule",
    "history_item",
    "tick_member",
]

#: sidekiq-cron skips a tick more than this many seconds old (``not_past_scheduled_time?``).
LATE_LIMIT = 60
#: Ticks older than this are forgotten from ``:enqueued`` (``REMEMBER_THRESHOLD``).
REMEMBER = 24 * 60 * 60
#: ``cron_history_size``: enqueues kept in ``:jid_history``.
HISTORY_SIZE = 10

_TRUE = {"true", "t", "yes", "y", "1"}
_FIELDS = (
    "name",
    "klass",
    "cron",
    "description",
    "args",
    "date_as_argument",
    "message",
    "status",
    "active_job",
    "queue_name_prefix",
    "queue_name_delimiter",
    "last_enqueue_time",
    "symbolize_args",
)


class CronEntryError(CronError):
    """A cron entry sidekiq-cron would find invalid, or one this worker cannot enqueue."""


@dataclass(frozen=True, slots=True)
class CronEntry:
    """One periodic job (a ``cron_job:<name>`` hash)."""

    name: str
    cron: str
    klass: str
    args: list[Any] = field(default_factory=list)
    message: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    status: str = "enabled"
    date_as_argument: bool = False
    active_job: bool = False
    symbolize_args: bool = False
    queue_name_prefix: str = ""
    queue_name_delimiter: str = ""
    #: Epoch seconds of the last enqueue (whole seconds, as stored), or None.
    last_enqueue_time: float | None = None

    @classmethod
    def define(
        cls,
        name: str,
        cron: str,
        klass: str,
        args: list[Any] | tuple[Any, ...] = (),
        *,
        queue: str = "default",
        description: str = "",
        date_as_argument: bool = False,
        **options: Any,
    ) -> CronEntry:
        """An entry defined in Python; ``options`` are payload keys (``retry=3``, ``tags=[...]``).

        Raises:
            CronEntryError: a bad name, class, cron string, args or option.
        """
        if not isinstance(name, str) or not name:
            raise CronEntryError("a cron entry needs a non-empty name")
        if not isinstance(klass, str) or not klass:
            raise CronEntryError(f"cron entry {name!r}: the class must be a non-empty string")
        try:
            parse(cron)
        except CronError as exc:
            raise CronEntryError(f"cron entry {name!r}: {exc}") from None
        args = list(args)
        try:
            check_args(args, f"cron entry {name!r} args")
            check_json_native(options, f"cron entry {name!r} options")
        except ValueError as exc:
            raise CronEntryError(str(exc)) from None
        message = {**options, "queue": queue, "class": klass, "args": args}
        entry = cls(name, cron, klass, args, message, description, "enabled", date_as_argument)
        entry.job(0.0)  # refuses now an option Sidekiq would refuse at every tick
        return entry

    @property
    def queue(self) -> str:
        return str(self.message.get("queue") or "default")

    @property
    def enabled(self) -> bool:
        return self.status == "enabled"

    def expr(self) -> CronExpr:
        """The parsed cron string (:class:`CronError` if sidekiq-cron would refuse it)."""
        return parse(self.cron)

    def with_status(self, status: str) -> CronEntry:
        return replace(self, status=status)

    def to_redis(self) -> dict[str, str]:
        """The hash fields, in ``to_hash`` order, as redis-rb writes them."""
        last = "" if self.last_enqueue_time is None else enqueue_time_text(self.last_enqueue_time)
        values: dict[str, Any] = {
            "name": self.name,
            "klass": self.klass,
            "cron": self.cron,
            "description": self.description,
            "args": dumps(self.args).decode(),
            "date_as_argument": self.date_as_argument,
            "message": dumps(self.message).decode(),
            "status": self.status,
            "active_job": self.active_job,
            "queue_name_prefix": self.queue_name_prefix,
            "queue_name_delimiter": self.queue_name_delimiter,
            "last_enqueue_time": last,
            "symbolize_args": self.symbolize_args,
        }
        return {k: _text(values[k]) for k in _FIELDS}

    @classmethod
    def from_redis(cls, raw: Mapping[Any, Any]) -> CronEntry:
        """An entry from ``HGETALL cron_job:<name>`` (bytes or str keys and values).

        Raises:
            CronEntryError: what ``Sidekiq::Cron::Job#valid?`` refuses, or unreadable JSON.
        """
        h = {_str(k): _str(v) for k, v in raw.items()}
        name, cron, klass = h.get("name", ""), h.get("cron", ""), h.get("klass", "")
        if not name or not cron or not klass:
            raise CronEntryError(f"cron entry {name or '?'!r}: name, cron and klass must be set")
        return cls(
            name=name,
            cron=cron,
            klass=klass,
            args=_args(h.get("args"), name),
            message=_message(h.get("message"), klass, name),
            description=h.get("description", ""),
            status=h.get("status", "enabled"),
            date_as_argument=_flag(h.get("date_as_argument")),
            active_job=_flag(h.get("active_job")),
            symbolize_args=_flag(h.get("symbolize_args")),
            queue_name_prefix=h.get("queue_name_prefix", ""),
            queue_name_delimiter=h.get("queue_name_delimiter", ""),
            last_enqueue_time=parse_enqueue_time(h.get("last_enqueue_time", "")),
        )

    def job(self, stamp: float) -> Job:
        """The job to push at ``stamp``: the message, its args the entry's (plus ``stamp``
        with ``date_as_argument``), checked as Sidekiq's client checks it.

        Raises:
            CronEntryError: an ActiveJob entry, or a message Sidekiq would refuse.
        """
        if self.active_job:
            raise CronEntryError(f"cron entry {self.name!r}: ActiveJob entries run in Ruby only")
        msg = dict(self.message)
        klass = msg.pop("class", None) or self.klass
        for key in ("args", "jid", "created_at", "enqueued_at"):
            msg.pop(key, None)
        queue = msg.pop("queue", None) or "default"
        retry = msg.pop("retry", True)
        args = [*self.args, stamp] if self.date_as_argument else list(self.args)
        options = {KEY_TO_NAME.get(k, k): v for k, v in msg.items()}
        try:
            return Job.new(klass, args, queue=queue, retry=retry, **options)
        except (ValueError, TypeError) as exc:
            raise CronEntryError(f"cron entry {self.name!r}: {exc}") from None


def due_tick(entry: CronEntry, expr: CronExpr, now: float) -> float | None:
    """The tick to enqueue at poll time ``now``, or None (sidekiq-cron's ``should_enque?``
    before its ``ZADD``: enabled, tick at most a minute old, not enqueued since the tick)."""
    if not entry.enabled:
        return None
    tick = expr.previous_time(now)
    if int(now) - int(tick) > LATE_LIMIT:
        return None
    last = entry.last_enqueue_time
    if last is not None and int(last) >= int(tick):
        return None
    return tick


def tick_member(tick: float) -> str:
    """The ``:enqueued`` member of a tick: ``Time#iso8601`` in UTC (``2026-11-28T20:05:00Z``)."""
    return _dt.datetime.fromtimestamp(int(tick), _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def enqueue_time_text(stamp: float) -> str:
    """``last_enqueue_time`` as sidekiq-cron writes it (``%Y-%m-%d %H:%M:%S %z``, UTC)."""
    return _dt.datetime.fromtimestamp(int(stamp), _dt.UTC).strftime("%Y-%m-%d %H:%M:%S +0000")


def parse_enqueue_time(text: str) -> float | None:
    """Epoch seconds of a stored ``last_enqueue_time`` (either Ruby spelling), or None."""
    text = text.strip()
    if not text:
        return None
    if text.endswith(" UTC"):  # Time#to_s, written by Job#save
        text = text[:-4] + " +0000"
    for fmt in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return _dt.datetime.strptime(text, fmt).timestamp()
        except ValueError:
            continue
    return None


def history_item(jid: str, stamp: float) -> str:
    """One ``:jid_history`` element: ``{"jid":...,"enqueued":...}``."""
    return json.dumps({"jid": jid, "enqueued": enqueue_time_text(stamp)}, separators=(",", ":"))


def _text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


def _str(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _flag(text: str | None) -> bool:
    return (text or "").lower() in _TRUE


def _args(text: str | None, name: str) -> list[Any]:
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return [text]  # sidekiq-cron's fallback: ``[*args]`` of the string
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list):
        raise CronEntryError(f"cron entry {name!r}: args must be a JSON array, not {text!r}")
    return value


def _message(text: str | None, klass: str, name: str) -> dict[str, Any]:
    if not text:
        return {"queue": "default", "class": klass, "args": []}
    try:
        value = json.loads(text)
    except ValueError:
        raise CronEntryError(f"cron entry {name!r}: message is not JSON: {text[:80]!r}") from None
    if not isinstance(value, dict):
        raise CronEntryError(f"cron entry {name!r}: message must be a JSON object")
    return value


_SCHEDULE_KEYS = {
    "name",
    "class",
    "klass",
    "cron",
    "args",
    "queue",
    "description",
    "date_as_argument",
    "status",
}


def entries_from_schedule(data: Any, source: str = "schedule") -> list[CronEntry]:
    """Entries from a sidekiq-cron schedule (``config/schedule.yml`` read as data): a mapping
    of name to entry, or a list of entries with a ``name``.

    Raises:
        CronEntryError: the first bad entry, named, with ``source``.
    """
    if isinstance(data, Mapping):
        items = [{**dict(v), "name": k} if isinstance(v, Mapping) else v for k, v in data.items()]
    elif isinstance(data, list):
        items = data
    else:
        raise CronEntryError(f"{source}: a schedule is a mapping of names to entries, or a list")
    entries = []
    for item in items:
        if not isinstance(item, Mapping):
            raise CronEntryError(f"{source}: an entry must be a mapping, not {item!r}")
        unknown = sorted(set(item) - _SCHEDULE_KEYS)
        name = item.get("name")
        if unknown:
            raise CronEntryError(f"{source}: entry {name!r} has unknown keys {unknown}")
        args = item.get("args", [])
        entry = CronEntry.define(
            name,  # type: ignore[arg-type]  # checked by define
            item.get("cron"),  # type: ignore[arg-type]
            item.get("class") or item.get("klass"),  # type: ignore[arg-type]
            args if isinstance(args, list) else [args],
            queue=item.get("queue") or "default",
            description=item.get("description") or "",
            date_as_argument=bool(item.get("date_as_argument", False)),
        )
        status = item.get("status")
        entries.append(entry if status is None else entry.with_status(str(status)))
    return entries
