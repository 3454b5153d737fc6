"""Ruby-compatible JSON output and Sidekiq's ``strict_args`` check.

Ruby's ``JSON.generate`` writes compact JSON with raw UTF-8, ``/`` unescaped and controls as
``\\uXXXX`` (lowercase hex), which is what msgspec writes too. Floats differ: both write the
shortest round-trip digits, but Ruby writes ``1.0e+20`` / ``1.0e-05`` where msgspec writes ``1e20``
/ ``0.00001``, and ``1.0e+15`` for a whole number in [1e15, 1e16) (``Float#to_s`` keeps the fixed
form there only for a value with a fraction, e.g. ``1234567890123456.8``) where msgspec writes
``1000000000000000.0``. :func:`dumps` rewrites those number tokens (never the inside of strings).
"""

from __future__ import annotations

import math
import re
from typing import Any

import msgspec

from verk_compat.errors import InvalidJob

__all__ = ["check_args", "check_json_native", "dumps", "rubify", "ruby_float"]

ENCODER = msgspec.json.Encoder()
_encode = ENCODER.encode

# A number msgspec may write differently from Ruby: any exponent form, or a fixed form below 1e-4
# (``0.0000`` not inside a longer number such as ``10.00001``). Strings are matched whole, so
# nothing inside them is touched.
_TOKEN = re.compile(
    rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"'  # a string, whole
    rb"|(?<![\d.])-?(?:\d++(?:\.\d++)?+e[+-]?\d++|0\.0000\d*+|[1-9]\d{15}\.0(?!\d))"  # a number
)
# Cheap pre-checks: ``0.0000``, or an exponent (searched from the literal ``e``) preceded by a digit
# and ending where a number can end (so hex ids such as ``"4e7a"`` rarely match).
_GUARD_E = re.compile(rb"e(?<=\de)[+-]?\d+(?:[,\]}]|$)")
# A whole float in [1e15, 1e16) as msgspec writes it: 16 digits then ``.0`` (searched from the
# literal ``.0``, so payloads without one are passed over quickly).
_GUARD_16 = re.compile(rb"\.0(?<=\d{16}\.0)(?:[,\]}]|$)")


class _Rewrite(Exception):
    """Raised by :func:`_float_token` at the first float token that Ruby writes differently."""


def _float_token(text: str) -> None:
    if "e" in text or "0.0000" in text[:7] or (text[-2:] == ".0" and _whole_e15(text)):
        raise _Rewrite


def _whole_e15(text: str) -> bool:
    """Whether ``text`` (a float token ending ``.0``) has 16 integer digits: [1e15, 1e16)."""
    return len(text) - (text[0] == "-") == 18


# Decodes only to visit every float token (strings are skipped by the parser, at C speed).
_FLOATS = msgspec.json.Decoder(float_hook=_float_token)


def ruby_float(value: float) -> str:
    """Format a finite float the way Ruby's ``Float#to_s`` (and so ``JSON.generate``) does.

    Args:
        value: A finite float.

    Returns:
        The shortest round-trip representation in Ruby style, e.g. ``1.0e+20``, ``3.0``.
    """
    text = repr(value)
    if "e" not in text:
        if text[-2:] == ".0" and _whole_e15(text):  # whole number in [1e15, 1e16)
            digits = text[-18:-2].rstrip("0")
            return f"{text[:-18]}{digits[0]}.{digits[1:] or '0'}e+15"
        return text
    mantissa, exponent = text.split("e")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}e{exponent}"


def _fix_token(match: re.Match[bytes]) -> bytes:
    token = match.group()
    if token[:1] == b'"':
        return token
    return ruby_float(float(token)).encode()


def dumps(value: Any) -> bytes:
    """Encode a JSON-native value as compact, Ruby-style JSON bytes.

    Args:
        value: Any JSON-native value (checked elsewhere, see :func:`check_args`).

    Returns:
        The JSON bytes, with floats formatted like Ruby.
    """
    return rubify(_encode(value))


def rubify(encoded: bytes) -> bytes:
    """Rewrite the float tokens of msgspec-encoded JSON the way Ruby writes them.

    Args:
        encoded: Compact JSON as msgspec wrote it.

    Returns:
        The same JSON with Ruby float formatting (strings untouched).
    """
    if (
        b"0.0000" not in encoded
        and _GUARD_E.search(encoded) is None
        and _GUARD_16.search(encoded) is None
    ):
        return encoded
    try:
        _FLOATS.decode(encoded)
    except _Rewrite:
        return _TOKEN.sub(_fix_token, encoded)
    return encoded


_SCALARS = frozenset((str, int, bool, type(None)))
_isfinite = math.isfinite


def _bad(path: str, value: Any) -> InvalidJob:
    return InvalidJob(f"{path}: {type(value).__name__} is not JSON-native", field=path)


def _check_float(value: float, path: str) -> None:
    if not math.isfinite(value):
        raise InvalidJob(f"{path}: float {value!r} is not JSON (NaN/Infinity)", field=path)


def check_json_native(value: Any, path: str) -> None:
    """Refuse any value Sidekiq 7.0.4+ ``strict_args`` would refuse.

    Only ``int``, ``float`` (finite), ``str``, ``bool``, ``None``, ``list`` and ``dict`` with
    ``str`` keys are allowed (exact types: subclasses, tuples, sets, enums are refused).

    Args:
        value: The value to check.
        path: The path of ``value``, used in the error message.

    Raises:
        InvalidJob: naming the path of the first offending value.
    """
    kind = type(value)
    if kind in _SCALARS:
        return
    if kind is float:
        _check_float(value, path)
    elif kind is list:
        for index, item in enumerate(value):
            if type(item) not in _SCALARS:
                check_json_native(item, f"{path}[{index}]")
    elif kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                msg = f"{path}: hash key {key!r} ({type(key).__name__}) is not a string"
                raise InvalidJob(msg, field=path)
            if type(item) not in _SCALARS:
                check_json_native(item, f"{path}[{_encode(key).decode()}]")
    else:
        raise _bad(path, value)


def check_args(args: Any, path: str = "args") -> None:
    """Sidekiq 7.0.4+ ``strict_args``: ``args`` must be a list of JSON-native values.

    Args:
        args: The job arguments.
        path: The name used for ``args`` in error messages.

    Raises:
        InvalidJob: e.g. ``args[2]["when"]: datetime is not JSON-native``.
    """
    if type(args) is not list:
        raise InvalidJob(f"{path}: must be a list, got {type(args).__name__}", field=path)
    if not _native(args):
        check_json_native(args, path)  # raises, naming the path


_STR_KEYS = frozenset((str,))


def _native(value: list[Any] | dict[Any, Any]) -> bool:
    """:func:`check_json_native` of a list or dict as a yes/no answer, without building paths."""
    if type(value) is dict:
        if not _STR_KEYS.issuperset(map(type, value)):
            return False
        items: Any = value.values()
    elif _SCALARS.issuperset(map(type, value)):  # a flat list: all checked at C speed
        return True
    else:
        items = value
    for item in items:
        kind = type(item)
        if kind in _SCALARS:
            continue
        if kind is float:
            if not _isfinite(item):
                return False
        elif kind is list or kind is dict:
            if not _native(item):
                return False
        else:
            return False
    return True
