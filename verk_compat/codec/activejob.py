"""ActiveJob on the Sidekiq wire: the wrapper payload and Rails' argument serialization.

Rails' Sidekiq adapter pushes ``{"class": <wrapper>, "wrapped": "MyJob", "args": [job_data]}``
where ``job_data`` is ``ActiveJob::Base#serialize`` (``job_class``, ``job_id``, ``queue_name``,
``priority``, ``arguments``, ``executions``, ``locale``, ``timezone``, ...). The wrapper class is
``ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper`` (Rails <= 7.1, Sidekiq <= 7.3.2) or
``Sidekiq::ActiveJob::Wrapper`` (Sidekiq 7.3.3+, the name Sidekiq 8 writes).

``arguments`` uses ``ActiveJob::Arguments``: JSON scalars, arrays and string-keyed hashes as
they are; a hash records its Symbol keys in ``_aj_symbol_keys``, keyword arguments in
``_aj_ruby2_keywords``, a HashWithIndifferentAccess in ``_aj_hash_with_indifferent_access``;
a GlobalID record is ``{"_aj_globalid": "gid://app/Model/1"}``; other objects are
``{"_aj_serialized": "<Serializer class>", ...}`` (Symbol, Time, DateTime, TimeWithZone, Date,
Duration, Module). The Python side of each, both ways:

=========================  =====================================================
Ruby                       Python
=========================  =====================================================
Symbol (value or key)      :class:`Symbol` (a ``str``)
keyword arguments          ``**kwargs`` of the handler
HashWithIndifferentAccess  :class:`IndifferentHash` (a ``dict``)
Time, DateTime, TWZ        aware ``datetime`` (microseconds; Ruby keeps ns); a Rails 7.1+
                           TimeWithZone in its ``ZoneInfo`` zone
Date                       ``date``
Duration                   ``timedelta`` (its seconds; calendar parts are not kept)
Module / Class             :class:`RubyModule`
GlobalID record            :class:`GlobalID`
BigDecimal (Rails 6.1)     a ``str`` such as ``"1.5"`` (what Rails 6.1 writes)
BigDecimal (Rails 7.1+)    ``Decimal`` (read only: Rails 6.1 has no such serializer)
Range (Rails 7.1+)         :class:`RubyRange` (read only, for the same reason)
=========================  =====================================================

Anything else (an app's custom serializer, say) raises :class:`~verk_compat.errors.
UnsupportedArgument` naming the value's path: never a silent guess. Pure code; touches no key.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from verk_compat.codec.job import Job
from verk_compat.errors import UnsupportedArgument

__all__ = [
    "NEW_WRAPPER",
    "OLD_WRAPPER",
    "WRAPPERS",
    "GlobalID",
    "IndifferentHash",
    "RubyModule",
    "RubyRange",
    "Symbol",
    "deserialize",
    "display_class",
    "rails_class",
    "serialize",
]

OLD_WRAPPER = "ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper"
NEW_WRAPPER = "Sidekiq::ActiveJob::Wrapper"
WRAPPERS = frozenset((OLD_WRAPPER, NEW_WRAPPER))

_SER = "ActiveJob::Serializers::"
_SERIALIZED = "_aj_serialized"
_GLOBALID = "_aj_globalid"
_SYMBOL_KEYS = "_aj_symbol_keys"
_KEYWORDS = "_aj_ruby2_keywords"
_INDIFFERENT = "_aj_hash_with_indifferent_access"
_RESERVED = frozenset((_SERIALIZED, _GLOBALID, _SYMBOL_KEYS, _KEYWORDS, _INDIFFERENT))


class Symbol(str):
    """A Ruby Symbol (``:four``); compares and hashes as its name."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Symbol({str(self)!r})"


class IndifferentHash(dict[str, Any]):
    """A Rails HashWithIndifferentAccess (string keys)."""


@dataclass(frozen=True, slots=True)
class GlobalID:
    """A reference to a Rails record: ``gid://app/Model/id``; locate it yourself."""

    uri: str

    @property
    def model_name(self) -> str:
        return self.uri.split("/")[3]

    @property
    def model_id(self) -> str:
        return self.uri.split("/", 4)[4]


@dataclass(frozen=True, slots=True)
class RubyModule:
    """A Ruby Module or Class passed by name (``Math``, ``User``)."""

    name: str


def rails_class(job: Job) -> str | None:
    """The Rails class of a wrapper payload: ``args[0].job_class``, else ``wrapped``."""
    args = job.args
    if args and isinstance(args[0], dict) and isinstance(args[0].get("job_class"), str):
        return str(args[0]["job_class"])
    return job.wrapped


def display_class(job: Job) -> str:
    """The name logs show: the Rails class for a wrapper payload, else ``class``."""
    name = job.class_name
    if name in WRAPPERS:
        return rails_class(job) or name
    return name


@dataclass(frozen=True, slots=True)
class RubyRange:
    """A Ruby Range (``1..5``, ``1...5``; ``None`` for an endless side), as Rails 7.1+ writes it."""

    begin: Any
    end: Any
    exclude_end: bool


# -- Ruby -> Python ------------------------------------------------------------------------------


def deserialize(arguments: Sequence[Any]) -> tuple[list[Any], dict[str, Any]]:
    """``job_data["arguments"]`` as ``(args, kwargs)`` for a Python handler.

    A last hash marked ``_aj_ruby2_keywords`` becomes the keyword arguments.

    Raises:
        UnsupportedArgument: a value with no Python form, named by its path.
    """
    if not isinstance(arguments, list):
        raise UnsupportedArgument("arguments: not a JSON array")
    kwargs: dict[str, Any] = {}
    values = list(arguments)
    if values and isinstance(values[-1], dict) and _KEYWORDS in values[-1]:
        kwargs = {str(k): v for k, v in _value(values.pop(), f"arguments[{len(values)}]").items()}
    return [_value(v, f"arguments[{i}]") for i, v in enumerate(values)], kwargs


def _value(value: Any, path: str) -> Any:
    if isinstance(value, list):
        return [_value(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    if _GLOBALID in value and len(value) == 1:
        return GlobalID(str(value[_GLOBALID]))
    if _SERIALIZED in value:
        return _object(value, path)
    return _hash(value, path)


def _hash(value: dict[str, Any], path: str) -> dict[str, Any]:
    out = {k: _value(v, f"{path}[{k!r}]") for k, v in value.items() if k not in _RESERVED}
    if value.get(_INDIFFERENT):
        return IndifferentHash(out)
    symbols = value.get(_SYMBOL_KEYS) or value.get(_KEYWORDS) or []
    return {(Symbol(k) if k in symbols else k): v for k, v in out.items()}


def _object(value: dict[str, Any], path: str) -> Any:
    name = str(value[_SERIALIZED]).removeprefix(_SER)
    reader = _READERS.get(name)
    if reader is None:
        raise UnsupportedArgument(f"{path}: no Python form for {value[_SERIALIZED]}")
    try:
        return reader(value)
    except (KeyError, TypeError, ValueError) as exc:
        raise UnsupportedArgument(f"{path}: unreadable {name}: {exc}") from None


def _time(value: dict[str, Any]) -> _dt.datetime:
    return _dt.datetime.fromisoformat(value["value"])


def _time_with_zone(value: dict[str, Any]) -> _dt.datetime:
    """Rails 6.1 writes the offset only; 7.1+ adds ``time_zone`` (a tz database name)."""
    time = _time(value)
    zone = value.get("time_zone")
    if zone is None:
        return time
    try:
        return time.astimezone(zoneinfo.ZoneInfo(zone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {zone!r}") from None


def _duration(value: dict[str, Any]) -> _dt.timedelta:
    return _dt.timedelta(seconds=value["value"])


def _decimal(value: dict[str, Any]) -> decimal.Decimal:
    text = value["value"]
    if not isinstance(text, str):
        raise TypeError("a BigDecimal value is a string")
    try:
        return decimal.Decimal(text)
    except decimal.InvalidOperation:
        raise ValueError(f"{text!r} is not a decimal number") from None


def _range(value: dict[str, Any]) -> RubyRange:
    begin = _value(value["begin"], "begin")
    end = _value(value["end"], "end")
    if not isinstance(value["exclude_end"], bool):
        raise TypeError("exclude_end is not a boolean")
    return RubyRange(begin, end, value["exclude_end"])


_READERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "SymbolSerializer": lambda v: Symbol(v["value"]),
    "TimeSerializer": _time,
    "DateTimeSerializer": _time,
    "TimeWithZoneSerializer": _time_with_zone,
    "DateSerializer": lambda v: _dt.date.fromisoformat(v["value"]),
    "DurationSerializer": _duration,
    "ModuleSerializer": lambda v: RubyModule(v["value"]),
    "BigDecimalSerializer": _decimal,
    "RangeSerializer": _range,
}


# -- Python -> Ruby ------------------------------------------------------------------------------


def serialize(args: Sequence[Any], kwargs: Mapping[str, Any] | None = None) -> list[Any]:
    """``arguments`` as Rails writes them for ``perform_later(*args, **kwargs)``.

    Raises:
        UnsupportedArgument: a value Rails could not read back, named by its path.
    """
    out = [_write(v, f"args[{i}]") for i, v in enumerate(args)]
    if kwargs:
        hash_ = _write_hash(kwargs, "kwargs")
        hash_[_KEYWORDS] = [str(k) for k in kwargs]
        out.append(hash_)
    return out


def _write(value: Any, path: str) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Symbol):
        return {_SERIALIZED: _SER + "SymbolSerializer", "value": str(value)}
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return [_write(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, IndifferentHash):
        return {**_write_hash(value, path), _INDIFFERENT: True}
    if isinstance(value, dict):
        hash_ = _write_hash(value, path)
        hash_[_SYMBOL_KEYS] = [str(k) for k in value if isinstance(k, Symbol)]
        return hash_
    return _write_object(value, path)


def _write_hash(value: Mapping[Any, Any], path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str) or key in _RESERVED:
            raise UnsupportedArgument(f"{path}: key {key!r} cannot be an ActiveJob hash key")
        out[str(key)] = _write(item, f"{path}[{key!r}]")
    return out


def _write_object(value: Any, path: str) -> Any:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            raise UnsupportedArgument(f"{path}: a naive datetime has no zone Rails can read")
        return {_SERIALIZED: _SER + "TimeSerializer", "value": iso8601_ns(value)}
    if isinstance(value, _dt.date):
        return {_SERIALIZED: _SER + "DateSerializer", "value": value.isoformat()}
    if isinstance(value, _dt.timedelta):
        seconds = value.total_seconds()
        number: int | float = int(seconds) if seconds.is_integer() else seconds
        parts = [[{_SERIALIZED: _SER + "SymbolSerializer", "value": "seconds"}, number]]
        return {_SERIALIZED: _SER + "DurationSerializer", "value": number, "parts": parts}
    if isinstance(value, RubyModule):
        return {_SERIALIZED: _SER + "ModuleSerializer", "value": value.name}
    if isinstance(value, GlobalID):
        return {_GLOBALID: value.uri}
    raise UnsupportedArgument(f"{path}: {type(value).__name__} has no ActiveJob form")


def iso8601_ns(value: _dt.datetime) -> str:
    """Ruby's ``Time#iso8601(9)``: nanosecond digits, ``Z`` for UTC, else ``+hh:mm``."""
    base = value.strftime("%Y-%m-%dT%H:%M:%S")
    offset = value.utcoffset() or _dt.timedelta(0)
    if value.tzinfo is _dt.UTC:
        zone = "Z"
    else:
        sign = "-" if offset < _dt.timedelta(0) else "+"
        minutes = abs(int(offset.total_seconds())) // 60
        zone = f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return f"{base}.{value.microsecond * 1000:09d}{zone}"
