"""Arguments serialized in Python are read back by real Rails 6.1 ActiveJob with Ruby types."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest

from verk_compat.codec.activejob import GlobalID, IndifferentHash, RubyModule, Symbol, serialize

pytestmark = pytest.mark.interop

READER = """
require "active_job"
require "json"
require "active_support/all"
ActiveJob::Base # loads ActiveJob::Arguments and the serializers
args = ActiveJob::Arguments.deserialize(JSON.parse(STDIN.read))
def describe(v)
  case v
  when Hash then {"class" => v.class.name, "ruby2_keywords" => Hash.ruby2_keywords_hash?(v),
                  "items" => v.map { |k, x| [k.class.name, k.to_s, describe(x)] }}
  when Array then v.map { |x| describe(x) }
  else {"class" => v.class.name, "inspect" => v.inspect}
  end
end
puts JSON.generate(describe(args))
"""


def rails_reads(arguments: list[object]) -> object:
    proc = subprocess.run(
        ["ruby", "-e", READER], input=json.dumps(arguments), capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    return json.loads(proc.stdout)


def test_rails_deserializes_python_values_with_ruby_types() -> None:
    when = dt.datetime(2024, 1, 2, 3, 4, 5, 250000, dt.timezone(dt.timedelta(hours=2)))
    args = [
        1, 2.5, "x", None, True, Symbol("four"), {Symbol("a"): 1, "b": [Symbol("c")]},
        IndifferentHash(k="v"), when, dt.date(2024, 1, 2), dt.timedelta(minutes=5),
        RubyModule("Math"),
    ]  # fmt: skip
    seen = rails_reads(serialize(args, {"kw": Symbol("yes")}))
    assert isinstance(seen, list)
    classes = [item["class"] for item in seen]
    assert classes == [
        "Integer", "Float", "String", "NilClass", "TrueClass", "Symbol", "Hash",
        "ActiveSupport::HashWithIndifferentAccess", "Time", "Date", "ActiveSupport::Duration",
        "Module", "Hash",
    ]  # fmt: skip
    assert seen[5]["inspect"] == ":four"
    assert seen[6]["items"][0][:2] == ["Symbol", "a"] and seen[6]["items"][1][:2] == ["String", "b"]
    assert seen[8]["inspect"] == "2024-01-02 03:04:05.25 +0200"
    assert seen[10]["inspect"] == "5 minutes" or seen[10]["inspect"] == "300 seconds"
    keywords = seen[12]
    assert keywords["ruby2_keywords"] is True
    assert keywords["items"][0][:2] == ["Symbol", "kw"]
    assert keywords["items"][0][2]["inspect"] == ":yes"


def test_globalid_is_written_as_rails_writes_it() -> None:
    # Locating the record needs a Rails app; the shape is what GlobalID::Locator reads.
    assert serialize([GlobalID("gid://app/User/1")]) == [{"_aj_globalid": "gid://app/User/1"}]
