"""Verk 1.x payloads: read them, write them the way Verk writes them, view them in Sidekiq terms.

Verk (docs/verk.md) writes all 13 of its keys, alphabetically (``null`` when unset); ``args`` is a
JSON *string* holding the array, which Sidekiq never writes, so a string ``args`` identifies a
Verk payload (:func:`is_verk`). ``jid`` is a decimal string, timestamps integer seconds,
``max_retry_count`` replaces ``retry`` and ``retry_count`` counts failures from 1.

Entry points:
    * :func:`verk_compat.codec.read.decode_any`: the one reader for a payload from a shared
      Verk/Sidekiq Redis (a :class:`VerkJob` or a Sidekiq ``Job``).
    * :class:`VerkJob`: decode, change, and :meth:`VerkJob.encode` as Verk's ``Job.encode``.
    * :func:`decode_verk1`: a Verk payload as a Sidekiq-shaped job (migration, admin API).
    * :func:`verk_compat.codec.verk_write.verk_from_job`: a Sidekiq job as Verk writes jobs.
    * :func:`normalize_cjson`: ``"args":{}`` / ``"tags":{}`` (Verk's Lua re-encoding an empty
      array) read as ``[]``, as Verk's own decode does.

Keys touched: none.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol, TypeVar

import msgspec

from verk_compat.codec._schema import KEY_TO_NAME, invalid
from verk_compat.codec.ruby_json import check_args
from verk_compat.codec.timestamps import to_seconds
from verk_compat.errors import InvalidJob


class _Decoded(Protocol):
    raw: bytes | None


# The Sidekiq job class is passed in, never imported: codec.job imports this module.
_J = TypeVar("_J", bound=_Decoded)
_J_co = TypeVar("_J_co", bound=_Decoded, covariant=True)


class JobClass(Protocol[_J_co]):
    """What this module needs of :class:`~verk_compat.codec.job.Job` (the class)."""

    def __call__(
        self, class_name: str, args: Sequence[Any] = (), *, extra: dict[str, msgspec.Raw], **f: Any
    ) -> _J_co: ...

    def decode(self, raw: bytes | str) -> _J_co: ...


__all__ = [
    "DEFAULT_MAX_RETRY_COUNT",
    "VERK_KEYS",
    "JobClass",
    "VerkJob",
    "decode_verk1",
    "is_verk",
    "new_verk_jid",
    "normalize_cjson",
]

#: Verk's keys in the order its JSON encoder writes them (alphabetical).
VERK_KEYS: tuple[str, ...] = (
    "args",
    "class",
    "created_at",
    "enqueued_at",
    "error_backtrace",
    "error_message",
    "failed_at",
    "finished_at",
    "jid",
    "max_retry_count",
    "queue",
    "retried_at",
    "retry_count",
)
#: Verk's budget when ``max_retry_count`` is null.
DEFAULT_MAX_RETRY_COUNT = 25

_Number = int | float
_NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


class _Verk(msgspec.Struct, gc=False):
    class_name: _NonEmpty = msgspec.field(name="class")
    args: str | list[Any] | dict[str, Any] = msgspec.field(default_factory=list)
    jid: str | int | None = None
    queue: _NonEmpty | None = None
    retry_count: int | None = None
    max_retry_count: int | None = None
    error_message: str | None = None
    error_backtrace: str | None = None
    created_at: _Number | None = None
    enqueued_at: _Number | None = None
    failed_at: _Number | None = None
    retried_at: _Number | None = None
    finished_at: _Number | None = None


_DEC = msgspec.json.Decoder(_Verk)
_TOKENS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_VERK_ONLY = frozenset(("max_retry_count", "finished_at"))
_ARRAY_KEYS = (b"args", b"tags")  # Sidekiq keys holding arrays that cjson may write as {}
_encode = msgspec.json.encode


def _tokens(raw: bytes) -> dict[str, msgspec.Raw] | None:
    try:
        return _TOKENS.decode(raw)
    except Exception:  # not JSON, or nested too deep to read (RecursionError): not Verk's
        return None


def is_verk(raw: bytes) -> bool:
    """Whether ``raw`` is a Verk payload: a JSON object whose ``args`` is a string."""
    if b'"args"' not in raw:
        return False
    tokens = _tokens(raw)
    args = None if tokens is None else tokens.get("args")
    return args is not None and bytes(args).startswith(b'"')


def normalize_cjson(raw: bytes) -> bytes | None:
    """``raw`` with ``args``/``tags`` written ``{}`` (cjson's empty array) as ``[]``, or None.

    None when there is nothing to normalise (not a JSON object, or no such key holds ``{}``).
    Every other token keeps its bytes; keys keep their order.
    """
    if b"{}" not in raw.replace(b" ", b""):
        return None
    tokens = _tokens(raw)
    if tokens is None:
        return None
    changed = False
    for key in ("args", "tags"):
        token = tokens.get(key)
        if token is not None and bytes(token).replace(b" ", b"") == b"{}":
            tokens[key] = msgspec.Raw(b"[]")
            changed = True
    return _encode(tokens) if changed else None


def _args(value: str | list[Any] | dict[str, Any], raw: bytes) -> list[Any]:
    if isinstance(value, str):
        try:
            value = msgspec.json.decode(value)
        except msgspec.DecodeError as exc:
            raise InvalidJob(
                f"args: not a JSON array string: {exc}", raw=raw, field="args"
            ) from None
    if value == {}:
        return []  # cjson writes an empty array as {}; Verk reads it back as []
    if not isinstance(value, list):
        raise InvalidJob("args: must be a JSON array", raw=raw, field="args")
    return value


def _float_token(value: float) -> str:
    """A float as Elixir's Jason writes it (shortest digits, ``e-7`` not ``e-07``)."""
    text = repr(value)
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}e{int(exponent)}"


def _jason(value: Any) -> Any:
    """``value`` with floats replaced by Jason-style number tokens."""
    if type(value) is float:
        return msgspec.Raw(_float_token(value).encode())
    if isinstance(value, list):
        return [_jason(v) for v in value]
    if isinstance(value, dict):
        return {k: _jason(v) for k, v in value.items()}
    return value


def encode_args(args: list[Any]) -> str:
    """The ``args`` string Verk writes for ``args`` (compact JSON, raw UTF-8)."""
    return _encode(_jason(args)).decode()


def new_verk_jid() -> str:
    """A jid as Verk makes one: two random 32-bit integers written one after the other."""
    return f"{secrets.randbits(32)}{secrets.randbits(32)}"


@dataclass(eq=False, slots=True)
class VerkJob:
    """One Verk job. Attributes are Verk's keys (``class`` is ``class_name``; ``args`` decoded).

    Timestamps keep their JSON type (Verk writes integer seconds; jobs this project wrote may
    carry float seconds or integer ms, which Verk keeps). ``retry_count`` is Verk's 1-based
    count of failures (0: never failed). ``raw`` is the exact payload it was decoded from.
    """

    class_name: str
    args: list[Any] = field(default_factory=list)
    jid: str | None = None
    queue: str | None = None
    retry_count: int = 0
    max_retry_count: int | None = None
    error_message: str | None = None
    error_backtrace: str | None = None
    created_at: _Number | None = None
    enqueued_at: _Number | None = None
    failed_at: _Number | None = None
    retried_at: _Number | None = None
    finished_at: _Number | None = None
    raw: bytes | None = field(default=None, repr=False)
    _tokens: dict[str, msgspec.Raw] = field(default_factory=dict, repr=False)
    _seen: dict[str, bytes] = field(default_factory=dict, repr=False)

    @classmethod
    def decode(cls, raw: bytes | str) -> VerkJob:
        """Decode a Verk payload (``args`` a string, a list, or cjson's ``{}``).

        Raises:
            InvalidJob: not a valid Verk job (the message names the field).
        """
        data = raw.encode() if isinstance(raw, str) else bytes(raw)
        try:
            verk = _DEC.decode(data)
        except msgspec.DecodeError as exc:
            raise invalid(exc, data) from None
        job = cls(
            verk.class_name,
            _args(verk.args, data),
            jid=None if verk.jid is None else str(verk.jid),
            queue=verk.queue,
            retry_count=verk.retry_count or 0,
            max_retry_count=verk.max_retry_count,
            error_message=verk.error_message,
            error_backtrace=verk.error_backtrace,
            created_at=verk.created_at,
            enqueued_at=verk.enqueued_at,
            failed_at=verk.failed_at,
            retried_at=verk.retried_at,
            finished_at=verk.finished_at,
            raw=data,
        )
        job._tokens = _TOKENS.decode(data)
        job._seen = job._values()
        return job

    def _values(self) -> dict[str, bytes]:
        """Each Verk key's value, JSON-encoded (to tell what changed since decoding)."""
        out = {}
        for key in VERK_KEYS:
            name = "class_name" if key == "class" else key
            out[key] = _encode(getattr(self, name))
        return out

    def encode(self) -> bytes:
        """Encode as Verk does: the 13 keys alphabetically, ``args`` as a string.

        Returns the exact decoded bytes when nothing changed; otherwise keys whose value did
        not change keep their original tokens (a float ``created_at``, the ``args`` string).
        Keys Verk does not know are dropped, as Verk drops them.
        """
        values = self._values()
        if self.raw is not None and values == self._seen:
            return self.raw
        out: dict[str, Any] = {}
        for key in VERK_KEYS:
            token = self._tokens.get(key)
            if token is not None and self._seen.get(key) == values[key]:
                out[key] = token
            elif key == "args":
                out[key] = encode_args(self.args)
            else:
                out[key] = msgspec.Raw(values[key])
        return _encode(out)

    @property
    def max_retries(self) -> int:
        """Verk's budget: ``max_retry_count``, or 25 when it is null."""
        return DEFAULT_MAX_RETRY_COUNT if self.max_retry_count is None else self.max_retry_count

    def to_job(self, cls: JobClass[_J]) -> _J:
        """This job in Sidekiq terms as a ``cls`` (the Sidekiq ``Job`` class; see
        :func:`decode_verk1`); ``raw`` keeps the Verk bytes."""
        fields: dict[str, Any] = {
            "queue": self.queue,
            "retry": True if self.max_retry_count is None else self.max_retry_count,
            "jid": self.jid,
            "error_message": self.error_message,
            "error_backtrace": self.error_backtrace,
        }
        for name in ("created_at", "enqueued_at", "failed_at", "retried_at"):
            value = getattr(self, name)
            fields[name] = None if value is None else to_seconds(value)
        never_failed = self.failed_at is None and self.retry_count == 0
        fields["retry_count"] = None if never_failed else self.retry_count
        extra = {
            key: value
            for key, value in self._tokens.items()
            if key not in KEY_TO_NAME and key not in _VERK_ONLY and bytes(value) != b"null"
        }
        check_args(self.args)
        job = cls(self.class_name, self.args, extra=extra, **fields)
        job.raw = self.raw
        return job


def decode_verk1(cls: JobClass[_J], raw: bytes) -> _J:
    """Decode Verk 1.x ``raw`` into a Sidekiq-shaped job.

    A payload with list ``args`` and a ``retry`` key is a Sidekiq job (one Verk's Lua moved, or
    one this project wrote): it is read by :meth:`Job.decode`, so ``retry`` and ``tags`` are
    kept. Otherwise: timestamps by the codec's rule (integer seconds, or integer ms from
    ``1e11``), ``jid`` as a string, ``retry`` from ``max_retry_count`` (``True`` when unset),
    Verk's ``retry_count`` kept (dropped when the job never failed), other non-null unknown keys
    in ``extra``. ``raw`` keeps the input bytes.

    Raises:
        InvalidJob: the payload is not a valid Verk job.
    """
    tokens = _tokens(raw)
    if tokens is not None and "retry" in tokens:
        args = tokens.get("args")
        if args is not None and not bytes(args).startswith(b'"'):
            return cls.decode(raw)
    return VerkJob.decode(raw).to_job(cls)
