"""Encoding of :class:`~verk_compat.codec.Job` payloads (the codec's write side).

* A job built in Python (``Job.new``, ``Job(...)``) encodes straight from its struct in one msgspec
  pass; only timestamps the profile writes differently and ``tags`` are rendered first.
* A decoded job whose known keys changed (or whose timestamps the profile converts, or whose args
  were replaced) is its input bytes with just those values rewritten in place and new keys
  appended (:func:`_splice`), as long as every such key sits once, unescaped, at the top level.
* Anything else (``extra`` changed, a key that also appears nested, ...) re-parses the input into
  key -> token and encodes that in one pass: the compact result keeps key order and every token
  of an unchanged key.

Both decoded-job paths give the same bytes for compact payloads (everything Sidekiq writes).
"""

from __future__ import annotations

import re
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
_QUOTED = {name: f'"{key}"'.encode() for name, key in NAME_TO_KEY.items()}
_KEY_BYTES = {name: f',"{key}":'.encode() for name, key in NAME_TO_KEY.items()}
# A known key could be written with escapes only as \u00XX of a printable ASCII character.
_ESCAPED = re.compile(rb"\\u00[2-7]")
_SCALAR = re.compile(rb'"(?:[^"\\]|\\.)*"|[^,}\]\s]+')
_COMMA, _OPEN, _COLON = 44, 123, 58


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
    wire, dirty = job._w, job._dirty or {}
    stale = [
        name
        for name in _TS
        if name not in dirty and (value := getattr(wire, name)) is not None and not fits(value, ms)
    ]
    args = None
    if job._args is not None and (out := args_raw(job)) != _Raw(_encode(wire.args)):
        args = out
    extra = job._extra
    if extra is not None and extra != job._snap:
        return _encode(_parts(job, src, stale, ms))
    if not stale and not dirty and args is None:
        return src
    spliced = _splice(job, src, stale, args, ms)
    return spliced if spliced is not None else _encode(_parts(job, src, stale, ms))


def _args_span(src: bytes, job: Job) -> tuple[int, int] | None:
    """Where the (only) top-level ``args`` token of ``src`` is."""
    pos = src.find(b'"args":')
    token = _encode(job._w.args)
    start = pos + 7
    if pos < 1 or src.count(b'"args"') != 1 or not src.startswith(token, start):
        return None
    return start, start + len(token)


def _find(src: bytes, quoted: bytes, span: tuple[int, int] | None) -> int:
    """The position of the only ``quoted`` key outside ``span``: -1 if none, -2 if several."""
    pos, found = src.find(quoted), -1
    while pos >= 0:
        if span is None or not span[0] <= pos < span[1]:
            if found >= 0:
                return -2
            found = pos
        pos = src.find(quoted, pos + 1)
    return found


def _splice(  # noqa: C901
    job: Job, src: bytes, stale: list[str], args: Any, ms: bool
) -> bytes | None:
    """``src`` with the changed values rewritten in place, or ``None`` if that is not certain."""
    if src[-1:] != b"}" or (b"\\u00" in src and _ESCAPED.search(src) is not None):
        return None
    wire, dirty = job._w, job._dirty or {}
    cuts: list[tuple[int, int, bytes]] = []
    span: tuple[int, int] | None = None
    if args is not None:
        if (span := _args_span(src, job)) is None:
            return None
        cuts.append((*span, bytes(args)))
    added = []
    for name, old in [*((name, getattr(wire, name)) for name in stale), *dirty.items()]:
        quoted, new = _QUOTED[name], getattr(wire, name)
        pos = _find(src, quoted, span)
        if pos == -2 and span is None and (span := _args_span(src, job)) is not None:
            pos = _find(src, quoted, span)
        if pos == -1 and old is None:
            if new is not None:
                added.append(name)
            continue
        if pos < 1 or old is None or name == "tags" or src[pos + len(quoted)] != _COLON:
            return None
        start = pos + len(quoted) + 1
        match, before = _SCALAR.match(src, start), src[pos - 1]
        if match is None or before not in (_COMMA, _OPEN):
            return None
        end = match.end()
        if new is not None:
            cuts.append((start, end, _encode(_render(name, new, ms))))
        elif before == _COMMA:
            cuts.append((pos - 1, end, b""))
        elif src[end] == _COMMA:
            cuts.append((pos, end + 1, b""))
        else:
            return None
    pieces, last = [], 0
    for start, end, data in sorted(cuts):
        if start < last:
            return None
        pieces += (src[last:start], data)
        last = end
    pieces.append(src[last:-1])
    for name in sorted(added, key=_RANK.__getitem__):
        pieces += (_KEY_BYTES[name], _encode(_render(name, getattr(wire, name), ms)))
    pieces.append(b"}")
    return b"".join(pieces)


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
