"""ActiveJob's argument serialization both ways, against what real Rails 6.1 wrote."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from verk_compat.codec.activejob import (
    GlobalID,
    IndifferentHash,
    RubyModule,
    RubyRange,
    Symbol,
    deserialize,
    iso8601_ns,
    serialize,
)
from verk_compat.errors import UnsupportedArgument

RECORDED: dict[str, list[Any]] = json.loads(
    (Path(__file__).resolve().parents[2] / "fixtures/activejob-6.1/arguments.json").read_text()
)
UTC = dt.UTC
SER = "ActiveJob::Serializers::"
PLUS2 = dt.timezone(dt.timedelta(hours=2))

EXPECTED: dict[str, tuple[list[Any], dict[str, Any]]] = {
    "symbol": ([Symbol("four")], {}),
    "kw": ([1], {"b": 2}),
    "hash_sym": ([{Symbol("a"): 1, "b": 2}], {}),
    "indiff": ([IndifferentHash(a=1)], {}),
    "time": ([dt.datetime(2024, 1, 2, 3, 4, 5, 123456, UTC)], {}),
    "time_offset": ([dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=PLUS2)], {}),
    "datetime": ([dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)], {}),
    "twz": ([dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)], {}),
    "date": ([dt.date(2024, 1, 2)], {}),
    "duration": ([dt.timedelta(minutes=5)], {}),
    "duration2": ([dt.timedelta(days=1, hours=3)], {}),
    "module": ([RubyModule("Math")], {}),
    "bigdecimal": (["1.5"], {}),
}


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_every_recorded_rails_value_decodes(name: str) -> None:
    args, kwargs = deserialize(RECORDED[name])
    assert (args, kwargs) == EXPECTED[name]
    assert [type(a) for a in args] == [type(a) for a in EXPECTED[name][0]]


@pytest.mark.parametrize(
    "name", ["symbol", "kw", "hash_sym", "indiff", "time_offset", "date", "module"]
)
def test_python_values_encode_to_what_rails_wrote(name: str) -> None:
    args, kwargs = EXPECTED[name]
    assert serialize(args, kwargs) == RECORDED[name]


def test_time_keeps_microseconds_of_rubys_nanoseconds() -> None:
    (value,) = serialize(EXPECTED["time"][0])
    assert value["value"] == "2024-01-02T03:04:05.123456000Z"  # Rails wrote ...123456789Z


def test_symbol_keys_survive_a_round_trip() -> None:
    value = [{Symbol("a"): [Symbol("x"), {"n": None}], "b": True}]
    assert deserialize(serialize(value))[0] == value
    assert isinstance(next(iter(deserialize(serialize(value))[0][0])), Symbol)


def test_globalid_reference() -> None:
    args, _ = deserialize([{"_aj_globalid": "gid://app/User/42"}])
    assert args == [GlobalID("gid://app/User/42")]
    assert (args[0].model_name, args[0].model_id) == ("User", "42")
    assert serialize(args) == [{"_aj_globalid": "gid://app/User/42"}]


def test_duration_encodes_as_seconds() -> None:
    (value,) = serialize([dt.timedelta(seconds=90)])
    assert value["value"] == 90 and value["parts"][0][1] == 90


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([{"_aj_serialized": "MyCustomSerializer", "x": 1}], r"arguments\[0\]: no Python form"),
        (
            [[{"_aj_serialized": "ActiveJob::Serializers::DateSerializer", "value": "x"}]],
            "unreadable",
        ),
        ({"not": "a list"}, "not a JSON array"),
    ],
)
def test_unmappable_values_are_named(arguments: Any, message: str) -> None:
    with pytest.raises(UnsupportedArgument, match=message):
        deserialize(arguments)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (dt.datetime(2024, 1, 1), "naive datetime"),
        ({1: "x"}, "cannot be an ActiveJob hash key"),
        ({"_aj_symbol_keys": []}, "cannot be an ActiveJob hash key"),
        (object(), "object has no ActiveJob form"),
    ],
)
def test_values_rails_could_not_read_are_refused(value: Any, message: str) -> None:
    with pytest.raises(UnsupportedArgument, match=message):
        serialize([value])


def test_iso8601_like_ruby() -> None:
    assert iso8601_ns(dt.datetime(2024, 1, 2, 3, 4, 5, 7, UTC)) == "2024-01-02T03:04:05.000007000Z"
    minus = dt.timezone(-dt.timedelta(hours=5, minutes=30))
    assert iso8601_ns(dt.datetime(2024, 1, 2, tzinfo=minus)).endswith("-05:30")


# Rails 7.1+ serializers (not in Debian's Rails 6.1): the shapes of their ``serialize`` methods.
RANGE = "ActiveJob::Serializers::RangeSerializer"
BIGDECIMAL = "ActiveJob::Serializers::BigDecimalSerializer"


def test_rails_71_range_and_bigdecimal_decode() -> None:
    date = {"_aj_serialized": SER + "DateSerializer", "value": "2024-01-02"}
    arguments = [
        {"_aj_serialized": RANGE, "begin": 1, "end": 5, "exclude_end": True},
        {"_aj_serialized": RANGE, "begin": date, "end": None, "exclude_end": False},
        {"_aj_serialized": BIGDECIMAL, "value": "0.15e1"},
    ]
    args, _ = deserialize(arguments)
    assert args == [
        RubyRange(1, 5, True), RubyRange(dt.date(2024, 1, 2), None, False), Decimal("1.5"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"_aj_serialized": BIGDECIMAL, "value": "abc"}, "'abc' is not a decimal"),
        ({"_aj_serialized": BIGDECIMAL, "value": 1.5}, "unreadable BigDecimalSerializer"),
        ({"_aj_serialized": RANGE, "begin": 1, "end": {"_aj_serialized": "X"}, "exclude_end": 1},
         r"arguments\[0\]: unreadable RangeSerializer: end: no Python form for X"),
        ({"_aj_serialized": RANGE, "begin": 1, "end": 2, "exclude_end": "no"}, "exclude_end"),
    ],
)  # fmt: skip
def test_bad_rails_71_values_are_named(value: Any, message: str) -> None:
    with pytest.raises(UnsupportedArgument, match=message):
        deserialize([value])


def test_rails_71_time_with_zone_keeps_its_zone() -> None:
    twz = "ActiveJob::Serializers::TimeWithZoneSerializer"
    value = {"_aj_serialized": twz, "value": "2024-01-02T04:04:05.000000000+01:00"}
    (time,), _ = deserialize([{**value, "time_zone": "Europe/Paris"}])
    assert time == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert isinstance(time.tzinfo, ZoneInfo) and str(time.tzinfo) == "Europe/Paris"
    with pytest.raises(UnsupportedArgument, match="unknown time zone 'Mars/Olympus'"):
        deserialize([{**value, "time_zone": "Mars/Olympus"}])
