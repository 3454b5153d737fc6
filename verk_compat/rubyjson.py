"""Ruby-compatible JSON output and Sidekiq's ``strict_args`` check.

Ruby's ``JSON.generate`` writes compact JSON with raw UTF-8, ``/`` unescaped and controls as
``\\uXXXX`` (lowercase hex), which is what msgspec writes too. Floats differ: both write the
shortest round-trip digits, but Ruby writes ``1.0e+20`` / ``1.0e-05`` where msgspec writes ``1e20``
/ ``0.00001``. :func:`dumps` rewrites those number tokens (never the inside of strings).
"""

from __future__ import annotations

import math
import re
from typing import Any

import msgspec

from .errors import InvalidJob

__all__ = ["check_args", "check_json_native", "dumps", "rubify", "ruby_float"]

ENCODER = msgspec.json.Encoder()
_encode = ENCODER.encode

# A number msgspec may write differently from Ruby: any exponent form, or a fixed form below 1e-4.
_GUARD = re.compile(rb"\de|0\.0000")
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?e[+-]?\d+|-?0\.0000\d*')


def ruby_float(value: float) -> str:
    """Format a finite float the way Ruby's ``Float#to_s`` (and so ``JSON.generate``) does.

    Args:
        value: A finite float.

    Returns:
        The shortest round-trip representation in Ruby style, e.g. ``1.0e+20``, ``3.0``.
    """
    text = repr(value)
    if "e" not in text:
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
    if _GUARD.search(encoded) is not None:
        return _TOKEN.sub(_fix_token, encoded)
    return encoded


_SCALARS = frozenset((str, int, bool, type(None)))


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
    check_json_native(args, path)
