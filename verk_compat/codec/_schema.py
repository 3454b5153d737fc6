"""The typed shape of a Sidekiq job payload (docs/wire.md §2.2) and its error messages.

:class:`Wire` is the one list of known keys: the key tables below are derived from it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec

from verk_compat.errors import InvalidJob

__all__ = [
    "ALL_KEYS",
    "KEY_TO_NAME",
    "NAME_TO_KEY",
    "NEW_TAIL",
    "PUBLIC_TYPES",
    "TIMESTAMPS",
    "Wire",
    "invalid",
    "unreadable",
]

NonEmptyStr = Annotated[str, msgspec.Meta(min_length=1)]
Timestamp = int | float


class Wire(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """Known keys as decoded: timestamps keep their JSON type, ``args`` elements stay raw.

    Fields are in Ruby's ``perform_async`` order (then JobRetry's), so a new job without options
    encodes straight from this struct.
    """

    retry: bool | int | float | None = None
    queue: NonEmptyStr | None = None
    class_name: NonEmptyStr = msgspec.field(name="class")
    args: list[msgspec.Raw]
    jid: str | None = None
    created_at: Timestamp | None = None
    enqueued_at: Timestamp | None = None
    error_message: str | None = None
    error_class: str | None = None
    failed_at: Timestamp | None = None
    retried_at: Timestamp | None = None
    retry_count: int | None = None
    error_backtrace: str | None = None
    backtrace: bool | int | None = None
    retry_queue: str | None = None
    dead: bool | None = None
    retry_for: int | None = None
    tags: list[Any] | None = None
    wrapped: str | None = None
    bid: str | None = None


# Types accepted when a field is assigned in Python (stricter than decoding: no float retry).
PUBLIC_TYPES: dict[str, Any] = {
    "class_name": NonEmptyStr,
    "jid": str | None,
    "queue": NonEmptyStr | None,
    "retry": bool | int | None,
    "retry_count": int | None,
    "created_at": float | None,
    "enqueued_at": float | None,
    "failed_at": float | None,
    "retried_at": float | None,
    "error_message": str | None,
    "error_class": str | None,
    "error_backtrace": str | None,
    "backtrace": bool | int | None,
    "retry_queue": str | None,
    "dead": bool | None,
    "retry_for": int | None,
    "tags": list[Any] | None,
    "wrapped": str | None,
    "bid": str | None,
}

# Python attribute name -> JSON key, in the struct's field order.
NAME_TO_KEY: dict[str, str] = {f.name: f.encode_name for f in msgspec.structs.fields(Wire)}
KEY_TO_NAME: dict[str, str] = {key: name for name, key in NAME_TO_KEY.items()}

TIMESTAMPS = frozenset(("created_at", "enqueued_at", "failed_at", "retried_at"))

# Order of known keys appended after the payload's own keys: the struct's order (Ruby's
# perform_async order, then the keys JobRetry appends, in the order it appends them, then job
# options).
ALL_KEYS: tuple[str, ...] = tuple(NAME_TO_KEY.values())

# Fields that Job.new does not place among the options (before ``class``).
NEW_TAIL = frozenset(ALL_KEYS[ALL_KEYS.index("jid") : ALL_KEYS.index("backtrace")])

_AT = re.compile(r"^(.*) - at `\$\.?([^`]*)`$", re.S)
_MISSING = re.compile(r"^Object missing required field `([^`]*)`")


def invalid(exc: msgspec.DecodeError, raw: bytes) -> InvalidJob:
    """Turn a msgspec decode error into an :class:`InvalidJob` naming the field.

    Args:
        exc: The msgspec error.
        raw: The payload bytes.

    Returns:
        The error to raise.
    """
    message = str(exc)
    if not isinstance(exc, msgspec.ValidationError):
        return InvalidJob(f"payload is not valid JSON: {message}", raw=raw)
    missing = _MISSING.match(message)
    if missing:
        field = missing.group(1)
        return InvalidJob(f"{field}: required key is missing", raw=raw, field=field)
    located = _AT.match(message)
    if located:
        detail, path = located.groups()
        field = re.split(r"[.\[]", path, maxsplit=1)[0] or None
        where = path or "payload"
        return InvalidJob(f"{where}: {detail}", raw=raw, field=field)
    return InvalidJob(f"payload: {message} (a job must be a JSON object)", raw=raw)


def unreadable(exc: BaseException, raw: bytes | None, field: str | None = None) -> InvalidJob:
    """Turn any other decode failure (``RecursionError``, ``MemoryError``, ...) into an error.

    Args:
        exc: The exception the decoder raised.
        raw: The payload bytes.
        field: The field being read, if known.

    Returns:
        The error to raise, naming the failure's type (``nesting too deep`` for recursion).
    """
    if isinstance(exc, RecursionError):
        detail = "JSON nested too deep"
    else:
        detail = f"{type(exc).__name__}: {exc}"
    where = field or "payload"
    return InvalidJob(f"{where}: unreadable ({detail})", raw=raw, field=field)
