"""Cron expressions as fugit reads them: unit cases, then every case checked against real fugit.

The interop test runs Debian's ruby-fugit 1.5 (what ruby-sidekiq-cron 1.8 uses) on the same
expressions and instants, so this parser's ticks are fugit's ticks, not our reading of them.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import json
import random

import pytest

from tests.support.ruby import ruby_eval
from verk_compat.codec.cron_expr import CronError, parse


def utc(*parts: int) -> float:
    return float(calendar.timegm(_dt.datetime(*parts).timetuple()))  # type: ignore[arg-type]


VALID = [
    "* * * * *",
    "*/5 * * * *",
    "5/15 * * * *",
    "/10 * * * *",
    "0 9 * * mon-fri",
    "0 9 * * MON",
    "0 0 9 * * MON",
    "0 22-2 * * *",
    "0 20-24 * * *",
    "30 4 1,15 * 5",
    "0 0 L * *",
    "0 0 last * *",
    "0 0 -2 * *",
    "0 0 -5--1 * *",
    "0 9 * * fri#-1",
    "0 9 * * mon#2",
    "0 9 * * 1#L",
    "0 9 * * sun,7",
    "0 9 * * fri-mon",
    "0 9 * * */2",
    "0 9 * * 1/2",
    "0 0 1 jan,jul *",
    "0 0 29 2 *",
    "0 0 31 1-3 *",
    "*/20 * * * * *",
    "10,40 */2 * * * *",
    "0 9 * * * Europe/Paris",
    "0 9 * * 1 America/New_York",
    "0 9 * * * +05:30",
    "0 9 * * * -0800",
    "0 9 * * * UTC",
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@noon",
    "@hourly",
    "7 3 */3 * *",
    "0 0 1-31/10 * *",
]

INVALID = [
    "",
    "* * * *",
    "* * * * * * * *",
    "60 * * * *",
    "* 25 * * *",
    "* * 32 * *",
    "* * * 13 *",
    "* * * * 8",
    "* * * * monday",
    "0 0 30 2 *",
    "*/0 * * * *",
    "0 9 * * * Not/AZone",
    "@reboot",
    "every 5 minutes",
    "0 9 * * mon%2",
    "a b c d e",
]

INSTANTS = [
    utc(2026, 11, 28, 20, 4, 59) + 0.5,
    utc(2026, 11, 28, 20, 5, 0) + 0.5,
    utc(2026, 11, 28, 20, 5, 1),
    utc(2024, 2, 29, 12, 0, 0),
    utc(2025, 12, 31, 23, 59, 59),
    utc(2026, 3, 29, 1, 30, 0),
]


@pytest.mark.parametrize("text", VALID)
def test_valid_expressions_parse(text: str) -> None:
    expr = parse(text)
    for at in INSTANTS:
        assert expr.previous_time(at) < at < expr.next_time(at)


@pytest.mark.parametrize("text", INVALID)
def test_invalid_expressions_are_refused_with_the_source_named(text: str) -> None:
    with pytest.raises(CronError) as caught:
        parse(text)
    assert repr(text) in str(caught.value) or text.split()[-1] in str(caught.value)


def test_previous_tick_is_strictly_before_the_whole_second() -> None:
    # fugit steps back one second from the (truncated) poll time: 20:05:00.5 is still 20:04.
    every_minute = parse("* * * * * UTC")
    assert every_minute.previous_time(utc(2026, 11, 28, 20, 5, 0) + 0.5) == utc(2026, 11, 28, 20, 4)
    assert every_minute.previous_time(utc(2026, 11, 28, 20, 5, 1)) == utc(2026, 11, 28, 20, 5)


def test_both_day_fields_restricted_means_either() -> None:
    expr = parse("30 4 1,15 * 5 UTC")  # the 1st, the 15th, and every Friday
    assert expr.next_time(utc(2026, 11, 28)) == utc(2026, 12, 1, 4, 30)
    assert expr.next_time(utc(2026, 12, 1, 5)) == utc(2026, 12, 4, 4, 30)


def test_last_weekday_and_last_day_of_month() -> None:
    assert parse("0 9 * * fri#-1 UTC").next_time(utc(2026, 11, 1)) == utc(2026, 11, 27, 9)
    assert parse("0 0 L * * UTC").next_time(utc(2024, 2, 1)) == utc(2024, 2, 29)


def test_zone_suffix_moves_the_tick() -> None:
    paris = parse("0 9 * * * Europe/Paris")
    assert paris.next_time(utc(2026, 7, 1)) == utc(2026, 7, 1, 7)  # CEST, UTC+2
    assert paris.next_time(utc(2026, 12, 1)) == utc(2026, 12, 1, 8)  # CET, UTC+1


def test_wrapping_hour_range_and_hour_24() -> None:
    assert parse("0 22-2 * * *").hours == (0, 1, 2, 22, 23)
    assert parse("0 20-24 * * *").hours == (0, 20, 21, 22, 23)


def test_impossible_pairs_are_dropped() -> None:
    expr = parse("0 0 31 1-3 *")
    assert expr.months == (1, 3)


_FUGIT = r"""
require "fugit"
cases = JSON.parse(ENV.fetch("CASES"))
out = cases.map do |text, instants|
  c = Fugit::Cron.parse(text) rescue nil
  if c.nil?
    nil
  else
    instants.map do |t|
      now = Time.at(t).utc
      [c.previous_time(now).to_f, c.next_time(now).to_f]
    end
  end
end
puts JSON.generate(out)
"""


@pytest.mark.interop
def test_ticks_match_fugit(redis_url: str) -> None:
    cases = [[text, INSTANTS] for text in VALID + INVALID]
    answers = json.loads(ruby_eval(_FUGIT, redis_url, CASES=json.dumps(cases)).splitlines()[-1])
    for text, answer in zip(VALID, answers[: len(VALID)], strict=True):
        assert answer is not None, f"fugit refuses {text!r}"
        expr = parse(text)
        ours = [[expr.previous_time(at), expr.next_time(at)] for at in INSTANTS]
        assert ours == answer, text
    for text, answer in zip(INVALID, answers[len(VALID) :], strict=True):
        if text in ("every 5 minutes", "0 9 * * mon%2"):
            continue  # valid for fugit, refused here on purpose (documented)
        assert answer is None, f"fugit accepts {text!r}"


def random_expression(rng: random.Random) -> str:
    """A cron string from fugit's grammar (ranges, steps, lists, names, L, #n, zones)."""

    def element(low: int, high: int, names: tuple[str, ...] = ()) -> str:
        def bound() -> str:
            n = rng.randint(low, high)
            return names[n - low] if names and rng.random() < 0.3 else str(n)

        kind = rng.randrange(5)
        if kind == 0:
            return "*"
        if kind == 1:
            return bound()
        if kind == 2:
            return f"{bound()}-{bound()}"
        if kind == 3:
            return f"*/{rng.randint(2, 20)}"
        return f"{bound()}-{bound()}/{rng.randint(2, 5)}"

    def field(low: int, high: int, names: tuple[str, ...] = ()) -> str:
        return ",".join(element(low, high, names) for _ in range(rng.choice((1, 1, 2))))

    months = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    days = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
    dom = rng.choice([field(1, 31), "L", "-3", "*", "*", "1,15"])
    dow = rng.choice([field(0, 6, days), f"{rng.choice(days)}#{rng.choice(['1', '2', '-1'])}"])
    parts = [field(0, 59), field(0, 23), dom, field(1, 12, months), dow]
    if rng.random() < 0.2:
        parts.insert(0, field(0, 59))
    if rng.random() < 0.2:
        parts.append(rng.choice(["Europe/Paris", "America/New_York", "+05:30", "UTC"]))
    return " ".join(parts)


@pytest.mark.interop
def test_random_expressions_match_fugit(redis_url: str) -> None:
    rng = random.Random(20261128)
    texts = [random_expression(rng) for _ in range(300)]
    instants = [utc(2026, 1, 1) + rng.uniform(0, 3 * 365 * 86400) for _ in range(3)]
    cases = [[text, instants] for text in texts]
    answers = json.loads(ruby_eval(_FUGIT, redis_url, CASES=json.dumps(cases)).splitlines()[-1])
    checked = 0
    for text, answer in zip(texts, answers, strict=True):
        try:
            expr = parse(text)
        except CronError:
            assert answer is None, f"fugit accepts {text!r}, we refuse it"
            continue
        assert answer is not None, f"fugit refuses {text!r}, we accept it"
        ours = [[expr.previous_time(at), expr.next_time(at)] for at in instants]
        assert ours == answer, text
        checked += 1
    assert checked > 250
