"""error_backtrace encoding against the values recorded from Sidekiq 6.4.1 and 7.3.10."""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path

import pytest

from verk_compat.codec.backtrace import decode_backtrace, encode_backtrace
from verk_compat.codec.job import Job
from verk_compat.errors import InvalidJob

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
CASES = [
    (version, stem)
    for version in ("6.4.1", "7.3.10")
    for stem in ("retry_backtrace_true", "retry_backtrace_10")
]


def _recorded(version: str, stem: str) -> str:
    doc = json.loads((FIXTURES / f"sidekiq-{version}" / f"{stem}.json").read_text())
    value = Job.decode(doc["raw"]).error_backtrace
    assert value is not None
    return value


@pytest.mark.parametrize(("version", "stem"), CASES)
def test_recorded_backtrace(version: str, stem: str) -> None:
    value = _recorded(version, stem)
    assert ("\n" in value) == (version == "6.4.1")  # 6.x: Base64.encode64, wrapped
    lines = decode_backtrace(value)
    assert lines and all(isinstance(line, str) for line in lines)
    assert "in `perform'" in lines[0]
    if stem.endswith("_10"):
        assert len(lines) == 10
    encoded = encode_backtrace(lines)
    assert "\n" not in encoded
    assert decode_backtrace(encoded) == lines
    if version == "7.3.10":  # 7.2.1+ writes strict base64 of the same zlib stream
        assert zlib.decompress(base64.b64decode(encoded)) == zlib.decompress(
            base64.b64decode(value)
        )


def test_round_trip_unicode() -> None:
    lines = ["a.rb:1:in `x'", 'b "quoted" \\ / \u2603', ""]
    assert decode_backtrace(encode_backtrace(lines)) == lines
    assert decode_backtrace(encode_backtrace([])) == []


def test_wrapped_base64() -> None:
    lines = [f"line {i}" for i in range(50)]
    wrapped = base64.encodebytes(zlib.compress(json.dumps(lines).encode())).decode()
    assert "\n" in wrapped
    assert decode_backtrace(wrapped) == lines


def test_raw_json_array() -> None:
    assert decode_backtrace(["a", "b"]) == ["a", "b"]
    assert decode_backtrace('["a","b"]') == ["a", "b"]


@pytest.mark.parametrize(
    "value",
    [
        "not base64!!",
        base64.b64encode(b"not zlib").decode(),
        base64.b64encode(zlib.compress(b'{"a":1}')).decode(),
        base64.b64encode(zlib.compress(b"[1,2]")).decode(),
        "[1,2]",
        "[",
        ["a", 1],
        5,
    ],
)
def test_garbage(value: object) -> None:
    with pytest.raises(InvalidJob) as info:
        decode_backtrace(value)  # type: ignore[arg-type]
    assert info.value.field == "error_backtrace"
