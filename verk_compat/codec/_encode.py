"""Encoding of :class:`~verk_compat.codec.job.Job` payloads (the codec's write side).

* A job built in Python (``Job.new``, ``Job(...)``) encodes straight from its struct in one msgspec
  pass (its struct holds the encoded args); only timestamps the profile writes differently and
  ``tags`` are rendered first, and only keys with extras/custom order go through a dict.
* A decoded job left as is encodes to its input bytes; one whose changed keys are all new gets
  them appended to the input bytes (args read but not changed count as unchanged).
* Anything else re-parses the input into key -> token and encodes that in one pass: the compact
  result keeps key order and every token of an unchanged key.

Speed: the common cases take short lanes with as little Python as possible (a new job without
options or assignments; ``sidekiq8`` of an untouched decoded job; one known key set), since the
interpreter, not msgspec, is most of the cost. Any change here must keep the output byte-identical
(compare against a saved copy of the codec over recorded and generated payloads).
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any, Protocol

import msgspec

from verk_compat.codec._fields import default_order
from verk_compat.codec._schema import ALL_KEYS, KEY_TO_NAME, NAME_TO_KEY, Wire
from verk_compat.codec.ruby_json import ENCODER, check_args, dumps, rubify
from verk_compat.codec.timestamps import MS_THRESHOLD, render, to_seconds


class Job(Protocol):
    """The state of :class:`~verk_compat.codec.job.Job` that the write side reads.

    A protocol rather than an import of ``Job``, so the codec's modules import one way only.
    """

    _w: Wire
    _dirty: dict[str, None] | None
    _args_enc: bytes | None
    _args_out: msgspec.Raw | None
    _args: list[Any] | None
    _extra: dict[str, msgspec.Raw] | None
    _snap: dict[str, msgspec.Raw] | None
    _order: tuple[str, ...] | None

    @property
    def extra(self) -> dict[str, msgspec.Raw]: ...


__all__ = ["args_raw", "encode_decoded", "encode_new"]

_encode = ENCODER.encode
_Raw = msgspec.Raw
_replace = msgspec.structs.replace
_asdict = msgspec.structs.asdict
_TOKENS_DEC = msgspec.json.Decoder(dict[str, msgspec.Raw])
_RANK = {KEY_TO_NAME[key]: rank for rank, key in enumerate(ALL_KEYS)}
_TS = ("created_at", "enqueued_at", "failed_at", "retried_at")
_KEY_BYTES = {name: f',"{key}":'.encode() for name, key in NAME_TO_KEY.items()}
_KEY_IN = {name: key[1:] for name, key in _KEY_BYTES.items()}
_NAME_TO_KEY = NAME_TO_KEY


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
_RENDERED = _RENDERED_TS | {"tags"}
_TS_GET = attrgetter(*_TS)
_MS = MS_THRESHOLD


def _kept_s(value: Any) -> bool:
    """Whether ``render`` (seconds) returns this decoded timestamp itself (None counts as kept)."""
    return value is None or (type(value) is float and 1e-4 <= value < 1e15)


def encode_new(job: Job, ms: bool) -> bytes:
    """Encode a job that was not decoded from bytes."""
    wire = job._w
    args = wire.args if job._args is None else args_raw(job)
    if job._dirty is None and job._order is None and not ms and job._extra == {}:
        # Job.new without options, no field assigned since: created_at is the only timestamp
        # and there are no tags, so the struct is the payload unless created_at needs rendering
        created = wire.created_at
        if type(created) is float and 1e-4 <= created < 1e15:
            wire.args = args
            return _encode(wire)
    created, enqueued, failed, retried = _TS_GET(wire)
    changes: dict[str, Any] = {}
    if (
        ms
        or not _kept_s(created)
        or not _kept_s(enqueued)
        or failed is not None
        or retried is not None
    ):
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


def _stale(job: Job, ms: bool) -> dict[str, Any] | None:
    """Timestamps not assigned since decoding whose token the profile writes differently, mapped
    to the value to write instead (``None`` when there are none)."""
    created, enqueued, failed, retried = _TS_GET(job._w)
    stale: dict[str, Any] = {}
    if ms:  # floats (seconds) and small ints (legacy seconds) become integer ms, as render() does
        if created is not None and (type(created) is float or -_MS < created < _MS):
            stale["created_at"] = round(created * 1000)
        if enqueued is not None and (type(enqueued) is float or -_MS < enqueued < _MS):
            stale["enqueued_at"] = round(enqueued * 1000)
        if failed is not None and (type(failed) is float or -_MS < failed < _MS):
            stale["failed_at"] = round(failed * 1000)
        if retried is not None and (type(retried) is float or -_MS < retried < _MS):
            stale["retried_at"] = round(retried * 1000)
    elif (
        type(created) is int or type(enqueued) is int or type(failed) is int or type(retried) is int
    ):
        for name, value in zip(_TS, (created, enqueued, failed, retried), strict=True):
            if type(value) is int:
                stale[name] = render(to_seconds(value), False)
    else:
        return None
    dirty = job._dirty
    if dirty is not None:
        for name in dirty:
            stale.pop(name, None)
    return stale or None


def encode_decoded(job: Job, src: bytes, ms: bool) -> bytes:
    """Encode a decoded job: ``src`` itself when nothing changed, else ``src`` edited."""
    dirty = job._dirty
    untouched = job._extra is None and job._args is None  # args and extra not even read
    if ms:
        if untouched and dirty is None:
            return _to_ms(job, src)
        stale = _stale(job, True)
    else:
        created, enqueued, failed, retried = _TS_GET(job._w)
        if int in (type(created), type(enqueued), type(failed), type(retried)):
            stale = _stale(job, False)
        else:
            stale = None  # float seconds (or none) are written as they are
    if untouched:
        if dirty is None:
            if stale is None:
                return src
            out: dict[str, Any] = _TOKENS_DEC.decode(src)
            out.update(stale)  # keys present in src: their places are kept
            return _encode(out)
        if stale is None and len(dirty) == 1:
            return _one_key(job, src, dirty, ms)
    return _edited(job, src, stale, ms)


def _to_ms(job: Job, src: bytes) -> bytes:
    """``src`` in the ``sidekiq8`` profile: the same but for integer ms timestamps (``_stale``)."""
    created, enqueued, failed, retried = _TS_GET(job._w)
    out: dict[str, Any] = _TOKENS_DEC.decode(src)
    changed = False
    if created is not None and (type(created) is float or -_MS < created < _MS):
        out["created_at"] = round(created * 1000)
        changed = True
    if enqueued is not None and (type(enqueued) is float or -_MS < enqueued < _MS):
        out["enqueued_at"] = round(enqueued * 1000)
        changed = True
    if failed is not None and (type(failed) is float or -_MS < failed < _MS):
        out["failed_at"] = round(failed * 1000)
        changed = True
    if retried is not None and (type(retried) is float or -_MS < retried < _MS):
        out["retried_at"] = round(retried * 1000)
        changed = True
    return _encode(out) if changed else src


def _one_key(job: Job, src: bytes, dirty: dict[str, None], ms: bool, args: Any = None) -> bytes:
    """The common edit: one known key set (appended when new, else replaced in place).

    ``args``: the encoded args when they were read (unchanged: written compact if re-encoded).
    """
    (name,) = dirty
    value = getattr(job._w, name)
    if value is not None:
        if name in _RENDERED:
            value = _render(name, value, ms)
        if src[-1:] == b"}" and _KEY_IN[name] not in src:
            return b"".join((src[:-1], _KEY_BYTES[name], _encode(value), b"}"))
    out: dict[str, Any] = _TOKENS_DEC.decode(src)
    if args is not None:
        out["args"] = args
    if value is None:
        out.pop(_NAME_TO_KEY[name], None)
    else:
        out[_NAME_TO_KEY[name]] = value
    return _encode(out)


def _edited(job: Job, src: bytes, stale: dict[str, Any] | None, ms: bool) -> bytes:
    """Any other edit: ``src`` when still the same, appended keys, or ``src`` re-encoded."""
    extra, dirty = job._extra, job._dirty
    args = None if job._args is None else args_raw(job)  # checked again if changed in place
    if (
        stale is None
        and (args is None or args == _Raw(_encode(job._w.args)))
        and (extra is None or extra == job._snap)
    ):
        if dirty is None:
            return src
        if len(dirty) == 1:
            return _one_key(job, src, dirty, ms, args)
        if src[-1:] == b"}" and (appended := _appended(job, src, dirty, ms)) is not None:
            return appended
    out: dict[str, Any] = _TOKENS_DEC.decode(src)
    if stale is not None:
        out.update(stale)
    if args is not None:
        out["args"] = args  # compact, even when unchanged
    return _encode(_changed(job, out, ms))


def _appended(job: Job, src: bytes, dirty: dict[str, None], ms: bool) -> bytes | None:
    """``src`` with the ``dirty`` keys appended, when all are set and none is in ``src``."""
    wire = job._w
    names = sorted(dirty, key=_RANK.__getitem__)
    values = [getattr(wire, name) for name in names]
    if None in values or any(_KEY_IN[name] in src for name in names):
        return None
    tail = [
        _KEY_BYTES[name] + _encode(_render(name, value, ms))
        for name, value in zip(names, values, strict=True)
    ]
    return b"".join((src[:-1], *tail, b"}"))


def _changed(job: Job, out: dict[str, Any], ms: bool) -> dict[str, Any]:
    """Apply the job's changes but args to ``out``, the payload's key -> token mapping."""
    wire = job._w
    dirty = job._dirty
    if dirty is not None:
        for name in sorted(dirty, key=_RANK.__getitem__) if len(dirty) > 1 else dirty:
            value = getattr(wire, name)
            if value is None:
                out.pop(_NAME_TO_KEY[name], None)
            else:
                out[_NAME_TO_KEY[name]] = _render(name, value, ms) if name in _RENDERED else value
    kept = job._extra
    if kept is not None and kept != job._snap:
        for key in [k for k in out if k not in KEY_TO_NAME and k not in kept]:
            del out[key]
        out.update(kept)
    return out
