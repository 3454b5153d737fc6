"""Ruby's ``JSON.generate`` versus :func:`verk_compat.codec.ruby_json.dumps`, byte for byte.

``EXPECTED`` was printed by Ruby 3.1 (json 2.6.1, the JSON Sidekiq 6.4.1 uses here): each value
wrapped in a one-element array. The interop test asks the installed Ruby again, for the table and
for a few thousand floats spread over every magnitude (sent as IEEE-754 bit patterns).
"""

from __future__ import annotations

import json
import random
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from verk_compat.codec.backtrace import decode_backtrace
from verk_compat.codec.job import Job, Profile
from verk_compat.codec.ruby_json import ENCODER, dumps, ruby_float
from verk_compat.codec.timestamps import render
from verk_compat.worker.retry import Retry, next_attempt, record_failure

# value -> what Ruby's JSON.generate([value]) printed
EXPECTED: list[tuple[Any, bytes]] = [
    (0.0, b"[0.0]"),
    (-0.0, b"[-0.0]"),
    (1.0, b"[1.0]"),
    (-1.0, b"[-1.0]"),
    (1.5, b"[1.5]"),
    (0.1, b"[0.1]"),
    (3.0, b"[3.0]"),
    (100.0, b"[100.0]"),
    (1e7, b"[10000000.0]"),
    (1e10, b"[10000000000.0]"),
    (1e14, b"[100000000000000.0]"),
    (123456789012345.6, b"[123456789012345.6]"),
    (999999999999999.0, b"[999999999999999.0]"),
    # [1e15, 1e16): integral values switch to the exponent form one decade before Python's repr
    (1e15, b"[1.0e+15]"),
    (-1e15, b"[-1.0e+15]"),
    (1.5e15, b"[1.5e+15]"),
    (1270888420946108.0, b"[1.270888420946108e+15]"),
    (9007199254740992.0, b"[9.007199254740992e+15]"),
    (9999999999999998.0, b"[9.999999999999998e+15]"),
    (1234567890123456.8, b"[1234567890123456.8]"),  # not integral: fixed, like repr
    (1125899906842624.2, b"[1125899906842624.2]"),
    (1e16, b"[1.0e+16]"),
    (1.5e16, b"[1.5e+16]"),
    (12345678901234567.0, b"[1.2345678901234568e+16]"),
    (1e17, b"[1.0e+17]"),
    (1e20, b"[1.0e+20]"),
    (-1e20, b"[-1.0e+20]"),
    (1e21, b"[1.0e+21]"),
    (1e22, b"[1.0e+22]"),
    (1e23, b"[1.0e+23]"),
    (1e100, b"[1.0e+100]"),
    (1e308, b"[1.0e+308]"),
    (1.7976931348623157e308, b"[1.7976931348623157e+308]"),
    (5e-324, b"[5.0e-324]"),
    (2.2250738585072014e-308, b"[2.2250738585072014e-308]"),
    (1.23e-18, b"[1.23e-18]"),
    (1e-10, b"[1.0e-10]"),
    (1e-7, b"[1.0e-07]"),
    (1e-5, b"[1.0e-05]"),
    (-1e-5, b"[-1.0e-05]"),
    (2.5e-5, b"[2.5e-05]"),
    (9.9e-5, b"[9.9e-05]"),
    (1e-4, b"[0.0001]"),
    (1.5e-4, b"[0.00015]"),
    (0.00012345, b"[0.00012345]"),
    (0.001, b"[0.001]"),
    (0.01, b"[0.01]"),
    (0.5, b"[0.5]"),
    (1 / 3, b"[0.3333333333333333]"),
    (2 / 3, b"[0.6666666666666666]"),
    (0.1 + 0.2, b"[0.30000000000000004]"),
    (4.35, b"[4.35]"),
    (123456789.123456789, b"[123456789.12345679]"),
    (1795781389.1559541, b"[1795781389.1559541]"),
    (4102444800.4999995, b"[4102444800.4999995]"),
    (0, b"[0]"),
    (-1, b"[-1]"),
    (2**31, b"[2147483648]"),
    (2**53 + 1, b"[9007199254740993]"),
    (2**63 - 1, b"[9223372036854775807]"),
    (2**64, b"[18446744073709551616]"),
    (-(2**70), b"[-1180591620717411303424]"),
    (10**30, b"[1000000000000000000000000000000]"),
    ("", b'[""]'),
    ("a/b", b'["a/b"]'),
    ("</script>", b'["</script>"]'),
    ("\u2028\u2029", '["\u2028\u2029"]'.encode()),
    ('"\\', b'["\\"\\\\"]'),
    ("\n\t\r\b\f", b'["\\n\\t\\r\\b\\f"]'),
    ("\x00\x01\x1f", b'["\\u0000\\u0001\\u001f"]'),
    ("a\x00b", b'["a\\u0000b"]'),
    ("\x1b", b'["\\u001b"]'),
    ("\x7f", b'["\x7f"]'),
    ("\x85", '["\x85"]'.encode()),
    ("\xad", '["\xad"]'.encode()),
    ("\ufeff", '["\ufeff"]'.encode()),
    ("é中😀", '["é中😀"]'.encode()),
    ("😀😀", '["😀😀"]'.encode()),
    ("\U0010ffff", '["\U0010ffff"]'.encode()),
    ("<script>&'", b'["<script>&\'"]'),
    (None, b"[null]"),
    (True, b"[true]"),
    (False, b"[false]"),
    (
        {"a": 1.0, "b": [1e20, {"c": "x\x01", "d": 1e15}], "e": "1e15", "f": "1000000000000000.0"},
        b'[{"a":1.0,"b":[1.0e+20,{"c":"x\\u0001","d":1.0e+15}],"e":"1e15",'
        b'"f":"1000000000000000.0"}]',
    ),
    ([1e15, 2.0, 1e15], b"[[1.0e+15,2.0,1.0e+15]]"),
]


def test_table_is_big_enough() -> None:
    assert len(EXPECTED) >= 80


@pytest.mark.parametrize(("value", "expected"), EXPECTED, ids=[repr(v)[:40] for v, _ in EXPECTED])
def test_dumps_is_ruby_json_generate(value: Any, expected: bytes) -> None:
    assert dumps([value]) == expected
    if type(value) is float:
        assert ruby_float(value).encode() == expected[1:-1]


@pytest.mark.parametrize("seconds", [1795781389.1559541, 1e15, 9007199254740992.0, 1e16, 1e-5])
def test_timestamp_render_matches_ruby(seconds: float) -> None:
    # the codec encodes render()'s value with plain msgspec, not through dumps()
    assert ENCODER.encode(render(seconds, False)) == ruby_float(seconds).encode()
    job = Job.new("W", [], created_at=seconds)
    token = ruby_float(seconds).encode()
    assert b'"created_at":' + token + b"}" in job.encode()
    assert b'"created_at":' + token + b"," in job.replace(queue="q", retry_count=0).encode()


def _floats() -> list[float]:
    rng = random.Random(1234)
    out: list[float] = [v for v, _ in EXPECTED if type(v) is float]
    for exponent in range(-325, 309):
        for _ in range(3):
            out.append(rng.random() * 10.0**exponent)
        out.append(float(rng.randrange(10 ** rng.randint(1, 17))) * 10.0**exponent)
    for _ in range(1500):  # integral values around 1e15..1e17, where the forms switch
        out.append(float(rng.randrange(10**14, 10**17)))
        out.append(rng.randrange(10**14, 10**17) / 10)
    return [v for v in out if v == v and abs(v) != float("inf")]


@pytest.mark.interop
def test_dumps_agrees_with_live_ruby() -> None:
    floats = _floats()
    strings = [v for v, _ in EXPECTED if type(v) is str]
    strings += [chr(c) for c in range(0x80)] + ["\u2028", "\ud7ff", "\ue000", "\U0001f600"]
    request = {
        "floats": [struct.pack(">d", v).hex() for v in floats],
        "strings": strings,  # sent \u-escaped (ensure_ascii), parsed by Ruby
    }
    script = (
        'require "json"\n'
        "req = JSON.parse(STDIN.read)\n"
        'req["floats"].each { |h| v = [h].pack("H*").unpack1("G"); puts JSON.generate([v, -v]) }\n'
        'req["strings"].each { |s| puts JSON.generate([s]) }\n'
    )
    proc = subprocess.run(
        ["ruby", "-e", script],
        input=json.dumps(request).encode(),
        capture_output=True,
        timeout=60,
        check=True,
    )
    lines = proc.stdout.split(b"\n")[:-1]
    ours = [dumps([v, -v]) for v in floats] + [dumps([s]) for s in strings]
    assert len(lines) == len(ours)
    wrong = [(theirs, mine) for theirs, mine in zip(lines, ours, strict=True) if theirs != mine]
    if wrong:
        pytest.fail(f"{len(wrong)} of {len(ours)} differ from Ruby, e.g. (ruby, ours): {wrong[:5]}")


# -- failure payloads against the recorded Ruby ones ---------------------------------------------

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
VERSIONS = ("6.4.1", "7.3.10")
_FIRST_FAILURE_KEYS = (
    "error_message",
    "error_class",
    "failed_at",
    "retry_count",
    "error_backtrace",
)


def _raw(version: str, stem: str) -> str:
    doc = json.loads((FIXTURES / f"sidekiq-{version}" / f"{stem}.json").read_text())
    raw: str = doc["raw"]
    return raw


def _ruby_dumps(doc: dict[str, Any]) -> bytes:
    # Python's json writes these recorded payloads as Ruby did (checked in each test)
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


class CustomError(Exception):
    pass


CustomError.__module__ = "Interop"  # error_class "Interop.CustomError" (Ruby: Interop::CustomError)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("stem", "exc"),
    [
        ("retry_after_error", CustomError("boom: 42")),
        ("retry_runtime_error", RuntimeError("plain RuntimeError")),
        ("retry_unicode_error_message", CustomError('bad "thing" \u2013 ☃ \\ / \n second line')),
        ("dead_after_retry0", CustomError("dead on arrival")),
    ],
)
def test_first_failure_payload_is_ruby_bytes(version: str, stem: str, exc: Exception) -> None:
    recorded = _raw(version, stem)
    doc = json.loads(recorded)
    assert _ruby_dumps(doc) == recorded.encode()
    fetched = {k: v for k, v in doc.items() if k not in _FIRST_FAILURE_KEYS}
    job = Job.decode(_ruby_dumps(fetched))
    failed = record_failure(job, exc, queue=doc["queue"], now=doc["failed_at"])
    expected = recorded.replace("Interop::CustomError", "Interop.CustomError").encode()
    profile: Profile = "sidekiq6" if version.startswith("6") else "sidekiq7"
    assert failed.encode(profile) == expected


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("stem", ["retry_second_failure", "dead_after_retries_exhausted"])
def test_later_failure_payload_is_ruby_bytes(version: str, stem: str) -> None:
    recorded = _raw(version, stem)
    doc = json.loads(recorded)
    assert _ruby_dumps(doc) == recorded.encode()
    fetched = {k: v for k, v in doc.items() if k != "retried_at"}
    fetched["retry_count"] -= 1
    if "error_message" in fetched and stem == "retry_second_failure":
        fetched["error_message"], fetched["error_class"] = "earlier", "Earlier"  # kept in place
    else:
        del fetched["error_message"], fetched["error_class"]
    job = Job.decode(_ruby_dumps(fetched))
    exc = CustomError(doc["error_message"])
    failed = record_failure(job, exc, queue="default", now=doc["retried_at"])
    assert (
        failed.encode() == recorded.replace("Interop::CustomError", "Interop.CustomError").encode()
    )


@pytest.mark.parametrize(
    ("message", "stored"),
    [
        ("bad \udcff name", "bad \ufffd name"),  # os.fsdecode of a non-UTF-8 file name
        ("\ud83d\ude00 pair", "\ufffd\ufffd pair"),
        ("fine ☃", "fine ☃"),
    ],
)
def test_error_message_is_scrubbed_like_ruby(message: str, stored: str) -> None:
    # Ruby scrubs the message (invalid UTF-8 -> U+FFFD) before JSON; a lone surrogate must not
    # make the failure unwritable (the processor then buries the job in dead without retrying).
    job = Job.decode(Job.new("W", [1]).encode())
    decision = next_attempt(
        job, CustomError(message), queue="default", now=1.7e9, rng=random.Random(1)
    )
    assert isinstance(decision, Retry)
    payload = json.loads(decision.payload.encode())
    assert payload["error_message"] == stored
    with_bt = record_failure(
        Job.new("W", [], backtrace=True), _raised_in("f\udcffile.py"), queue="q", now=1.7e9
    )
    assert with_bt.error_backtrace is not None
    assert "f\ufffdile.py" in decode_backtrace(with_bt.error_backtrace)[0]


def _raised_in(filename: str) -> Exception:
    namespace: dict[str, Any] = {}
    exec(compile("def boom():\n    raise ValueError('x')\n", filename, "exec"), namespace)
    try:
        namespace["boom"]()
    except ValueError as exc:
        return exc
    raise AssertionError("unreachable")
