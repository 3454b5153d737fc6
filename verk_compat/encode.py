"""Encoding of :class:`~verk_compat.codec.Job` payloads (the codec's write side).

* A job built in Python (``Job.new``, ``Job(...)``) encodes straight from its struct in one msgspec
  pass (its struct holds the encoded args); only timestamps the profile writes differently and
  ``tags`` are rendered first, and only keys with extras/custom order go through a dict.
* A decoded job left as is encodes to its input bytes; one whose changed keys are all new gets
  them appended to the input bytes (args read but not changed count as unchanged).
* Anything else re-parses the input into key -> token and encodes that in one pass: the compact
  result keeps key order and every token of an unchanged key.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import msgspec

from .fields import default_order
from .rubyjson import ENCODER, check_args, dumps, rubify
from .timestamps import fits, render, to_seconds
from .wire import ALL_KEYS, KEY_TO_NAME, NAME_TO_KEY

if TYPE_CHECKING:
    from .codec import Job

__all__ = ["args_raw", "encode_decoded", "encode_new"]

_encode = ENCODER.encode
_Raw = msgspec.Raw
_replace = msgspec.structs.replace
_asdict = msgspec.structs.asdict
_TOKENS_DEC = msgspec.json.Decoder(dict[str, msgspec.Raw])
_RANK = {KEY_TO_NAME[key]: rank for rank, key in enumerate(ALL_KEYS)}
_TS = ("created_at", "enqueued_at", "failed_at", "retried_at")
_KEY_BYTES = {name: f',"{key}":'.encode() for name, key in NAME_TO_KEY.items()}


def args_raw(job: Job) -> Any:
    """The args to encode: ``Raw`` Ruby-style JSON (checked again when changed in place)."""
    args = job._args
    if args is None:
        return job._w.args
    try:
        encoded = _encode(args)
    except TypeError:
        encoded = b""
    if encoded != job._args_enc:  # first encode, or changed in place: check again
        check_args(args)
        job._args_enc = encoded
        job._args_out = _Raw(rubify(encoded))
    return job._args_out


def _render(name: str, value: Any, ms: bool) -> Any:
    if value is None:
        return None
    if name == "tags":
        return _Raw(dumps(value))
    if name in _RENDERED_TS:
        return render(to_seconds(value), ms)
    return value


_RENDERED_TS = frozenset(_TS)


def encode_new(job: Job, ms: bool) -> bytes:
    """Encode a job that was not decoded from bytes."""
    wire = job._w
    args = args_raw(job)
    changes: dict[str, Any] = {}
    for name in _TS:
        value = getattr(wire, name)
        if value is not None and (out := render(to_seconds(value), ms)) is not value:
            changes[name] = out
    if wire.tags is not None:
        changes["tags"] = _Raw(dumps(wire.tags))
    extra = job.extra
    if job._order is None and not extra:
        wire.args = args  # the struct of a new job holds its encoded args
        return _encode(_replace(wire, **changes) if changes else wire)
    merged = _asdict(wire) | changes | {"args": args} | extra
    merged["class"] = merged.pop("class_name")
    order = dict.fromkeys((*(job._order or default_order(extra)), *ALL_KEYS, *extra))
    return _encode({key: value for key in order if (value := merged.get(key)) is not None})


def encode_decoded(job: Job, src: bytes, ms: bool) -> bytes:
    """Encode a decoded job: ``src`` itself when nothing changed, else ``src`` edited."""
    wire, dirty = job._w, job._dirty
    stale = [
        name
        for name in _TS
        if (dirty is None or name not in dirty)
        and (value := getattr(wire, name)) is not None
        and not fits(value, ms)
    ]
    extra = job._extra
    if (
        not stale
        and (job._args is None or args_raw(job) == _Raw(_encode(wire.args)))
        and (extra is None or extra == job._snap)
    ):
        if dirty is None:
            return src
        if (
            src[-1:] == b"}"
            and all(new is not None for new in map(wire.__getattribute__, dirty))
            and not any(_KEY_BYTES[name][1:] in src for name in dirty)
        ):
            tail = _appended(job, sorted(dirty, key=_RANK.__getitem__), ms)
            return b"".join((src[:-1], *tail, b"}"))
    return _encode(_parts(job, src, stale, ms))


def _appended(job: Job, names: list[str], ms: bool) -> list[bytes]:
    wire = job._w
    return [_KEY_BYTES[name] + _encode(_render(name, getattr(wire, name), ms)) for name in names]


def _parts(job: Job, src: bytes, stale: list[str], ms: bool) -> dict[str, Any]:
    """Ordered mapping of JSON key -> value to encode (``Raw`` for kept tokens)."""
    out: dict[str, Any] = _TOKENS_DEC.decode(src)
    names = stale + sorted(job._dirty or (), key=_RANK.__getitem__)
    for name, value in _rendered(job, names, ms).items():
        key = NAME_TO_KEY[name]
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    kept = job._extra
    if kept is not None and kept != job._snap:
        for key in [k for k in out if k not in KEY_TO_NAME and k not in kept]:
            del out[key]
        out.update(kept)
    return out


def _rendered(job: Job, names: Iterable[str], ms: bool) -> dict[str, Any]:
    """Attribute name -> value ready to encode, for ``names`` (``args`` always included)."""
    wire = job._w
    out: dict[str, Any] = {"args": args_raw(job)} if job._args is not None else {}
    for name in names:
        out[name] = _render(name, getattr(wire, name), ms)
    return out
