"""Field-level helpers of the codec: input checks, attribute properties, new-job key order."""

from __future__ import annotations

import math
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar, overload

import msgspec

from verk_compat.codec._schema import NAME_TO_KEY, NEW_TAIL, PUBLIC_TYPES, TIMESTAMPS
from verk_compat.codec.ruby_json import ENCODER, check_json_native, dumps
from verk_compat.codec.timestamps import to_seconds
from verk_compat.errors import InvalidJob

__all__ = [
    "as_bytes",
    "check_field",
    "check_utf8",
    "default_order",
    "field_property",
    "split_options",
]

if TYPE_CHECKING:
    _T = TypeVar("_T")

    class Field(Generic[_T]):
        """What a :func:`field_property` is to a type checker: read and assigned as ``_T``.

        ``Job`` declares its fields with it: plain annotations would make mypy refuse
        ``job.queue = "low"``, since ``Job.__slots__`` does not list the fields (at run time
        each one is a ``property``, set on the class after it is built).
        """

        @overload
        def __get__(self, obj: None, owner: type[Any]) -> Self: ...
        @overload
        def __get__(self, obj: object, owner: type[Any]) -> _T: ...
        def __get__(self, obj: object, owner: type[Any]) -> _T | Self: ...
        def __set__(self, obj: object, value: _T) -> None: ...


_convert = msgspec.convert
_NON_EMPTY = frozenset(("class_name", "queue"))


def as_bytes(raw: bytes | str) -> bytes:
    if type(raw) is bytes:
        return raw
    if isinstance(raw, str):
        try:
            return raw.encode()
        except UnicodeEncodeError as exc:
            raise InvalidJob(f"payload is not valid UTF-8: {exc}", raw=None) from None
    if isinstance(raw, bytearray | memoryview):
        return bytes(raw)
    raise InvalidJob(f"payload must be bytes or str, got {type(raw).__name__}")


def check_utf8(data: bytes) -> None:
    try:
        data.decode()
    except UnicodeDecodeError as exc:
        raise InvalidJob(f"payload is not valid UTF-8: {exc}", raw=data) from None


_NONE = type(None)
_STR: frozenset[type] = frozenset((str, _NONE))
_INT: frozenset[type] = frozenset((int, _NONE))
# Exact Python types that need no conversion or deeper check (others go through msgspec).
_FAST: dict[str, frozenset[type]] = {
    "class_name": frozenset((str,)),
    "queue": _STR,
    "retry": frozenset((bool, int, _NONE)),
    "backtrace": frozenset((bool, int, _NONE)),
    "dead": frozenset((bool, _NONE)),
    "retry_count": _INT,
    **{name: frozenset((float, _NONE)) for name in TIMESTAMPS},
    **dict.fromkeys(
        ("jid", "error_message", "error_class", "error_backtrace", "retry_queue", "wrapped", "bid"),
        _STR,
    ),
}


def check_field(name: str, value: Any) -> Any:
    """Validate (and normalise) a value assigned to a known field."""
    fast = _FAST.get(name)
    if (
        fast is not None
        and type(value) in fast
        and (value != "" or name not in _NON_EMPTY)
        and (type(value) is not float or math.isfinite(value))
    ):
        return value
    key = NAME_TO_KEY[name]
    if name == "retry_for" and type(value) is int and value > 1_000_000_000:
        raise InvalidJob(f"{key}: {value} must be relative (<= 1e9 seconds)", field=key)
    try:
        value = _convert(value, PUBLIC_TYPES[name])
    except msgspec.ValidationError as exc:
        raise InvalidJob(f"{key}: {exc}", field=key) from None
    if value is not None and (name == "tags" or name in TIMESTAMPS):
        check_json_native(value, key)
    return value


def default_order(extra: dict[str, msgspec.Raw]) -> tuple[str, ...]:
    return ("retry", "queue", *extra, "class", "args", "jid", "created_at", "enqueued_at")


def _timestamp_getter(name: str) -> Callable[[Any], float | None]:
    def get(self: Any) -> float | None:
        value = getattr(self._w, name)
        return None if value is None else to_seconds(value)

    return get


def _get_retry(self: Any) -> bool | int | None:
    retry = self._w.retry
    if isinstance(retry, float):  # Sidekiq: truthy, not an Integer => default maximum
        return True
    retry_value: bool | int | None = retry
    return retry_value


def field_property(name: str) -> property:
    """Build the validating property of known field ``name`` (timestamps read as seconds)."""

    def fset(self: Any, value: Any) -> None:
        self._set(name, value)

    if name in TIMESTAMPS:
        fget: Callable[[Any], Any] = _timestamp_getter(name)
    elif name == "retry":
        fget = _get_retry
    else:
        fget = attrgetter(f"_w.{name}")
    return property(fget, fset, doc=f"The ``{NAME_TO_KEY[name]}`` key.")


def split_options(
    options: dict[str, Any],
) -> tuple[tuple[str, ...], dict[str, Any], dict[str, msgspec.Raw]]:
    """Split ``Job.new`` options into known fields and JSON-encoded extra keys.

    Args:
        options: The keyword options, in call order.

    Returns:
        ``(key order, known fields, extra)``; options sit between ``queue`` and ``class``, as
        Sidekiq's ``set(...)`` puts them.

    Raises:
        InvalidJob: an extra value is not JSON-native.
    """
    order = ["retry", "queue"]
    extra: dict[str, msgspec.Raw] = {}
    known: dict[str, Any] = {}
    for key, value in options.items():
        if key in ("class_name", "args"):
            raise TypeError(f"Job.new() got {key!r} twice: pass it positionally only")
        if key in NAME_TO_KEY:
            known[key] = value
            if key not in NEW_TAIL:
                order.append(NAME_TO_KEY[key])
        else:
            check_json_native(value, f"extra[{ENCODER.encode(key).decode()}]")
            extra[key] = msgspec.Raw(dumps(value))
            order.append(key)
    order += ("class", "args", "jid", "created_at", "enqueued_at")
    return tuple(order), known, extra
