"""Decoding of Verk 1.x payloads (Elixir Verk, for migration).

Verk 1.x writes all 13 of its keys (``null`` when unset), ``args`` as a JSON *string* holding the
array (plain arrays and ``{}`` for no args are accepted too), integer-second timestamps, a decimal
``jid`` (sometimes a number), ``max_retry_count`` instead of ``retry`` and ``retry_count: 0`` on
jobs that never failed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Protocol, TypeVar

import msgspec

from verk_compat.codec._schema import KEY_TO_NAME, invalid
from verk_compat.errors import InvalidJob


class _Decoded(Protocol):
    raw: bytes | None


# The job class is passed in (not imported), so the codec's modules import one way only.
_J = TypeVar("_J", bound=_Decoded)

__all__ = ["decode_verk1"]

_Seconds = int | float


class _Verk(msgspec.Struct, gc=False):
    class_name: Annotated[str, msgspec.Meta(min_length=1)] = msgspec.field(name="class")
    args: str | list[Any] | dict[str, Any] = msgspec.field(default_factory=list)
    jid: str | int | None = None
    queue: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    retry_count: int | None = None
    max_retry_count: int | None = None
    error_message: str | None = None
    error_backtrace: str | None = None
    created_at: _Seconds | None = None
    enqueued_at: _Seconds | None = None
    failed_at: _Seconds | None = None
    retried_at: _Seconds | None = None


_DEC = msgspec.json.Decoder(_Verk)
_TOKENS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_VERK_ONLY = frozenset(("max_retry_count", "finished_at"))


def _args(value: str | list[Any] | dict[str, Any], raw: bytes) -> list[Any]:
    if isinstance(value, str):
        try:
            value = msgspec.json.decode(value)
        except msgspec.DecodeError as exc:
            raise InvalidJob(
                f"args: not a JSON array string: {exc}", raw=raw, field="args"
            ) from None
    if value == {}:
        return []
    if not isinstance(value, list):
        raise InvalidJob("args: must be a JSON array", raw=raw, field="args")
    return value


def decode_verk1(cls: Callable[..., _J], raw: bytes) -> _J:
    """Decode Verk 1.x ``raw`` into a Sidekiq-shaped job.

    Args:
        cls: The :class:`~verk_compat.codec.job.Job` class.
        raw: The payload bytes.

    Returns:
        The job: integer timestamps read as seconds, ``jid`` as a string, ``retry`` from
        ``max_retry_count`` (``True`` when unset), ``retry_count`` dropped when the job never
        failed, other non-null unknown keys in ``extra``. ``raw`` keeps the Verk bytes.

    Raises:
        InvalidJob: the payload is not a valid Verk job.
    """
    try:
        verk = _DEC.decode(raw)
    except msgspec.DecodeError as exc:
        raise invalid(exc, raw) from None
    fields: dict[str, Any] = {
        "queue": verk.queue,
        "retry": True if verk.max_retry_count is None else verk.max_retry_count,
        "jid": None if verk.jid is None else str(verk.jid),
        "error_message": verk.error_message,
        "error_backtrace": verk.error_backtrace,
    }
    for name in ("created_at", "enqueued_at", "failed_at", "retried_at"):
        value = getattr(verk, name)
        fields[name] = None if value is None else float(value)
    never_failed = verk.failed_at is None and verk.retry_count == 0
    fields["retry_count"] = None if never_failed else verk.retry_count
    extra = {
        key: value
        for key, value in _TOKENS.decode(raw).items()
        if key not in KEY_TO_NAME and key not in _VERK_ONLY and bytes(value) != b"null"
    }
    job = cls(verk.class_name, _args(verk.args, raw), extra=extra, **fields)
    job.raw = raw
    return job
