"""Pure parts of the dashboard: paging, job names, durations, sizes, the chart geometry."""

from __future__ import annotations

import datetime as dt

import pytest

from verk_compat.api import DayStat, SortedEntry
from verk_compat.web.data import digest, entry_id, paging, parse_entry_id
from verk_compat.web.format import age, args_text, chart, kib, utc


def test_paging_clamps_and_counts() -> None:
    assert paging(0, 1, 25).pages == 1
    where = paging(51, 9, 25)
    assert (where.page, where.pages, where.start, where.end) == (3, 3, 50, 74)
    assert paging(10, -4, 25).page == 1 and paging(10, 1, 10_000).per_page == 500


def test_entry_id_round_trips_the_exact_score() -> None:
    entry = SortedEntry(raw=b'{"x":1}', job=None, score=1795781364.9468031)
    score, name = parse_entry_id(entry_id(entry))
    assert score == entry.score and name == digest(b'{"x":1}') and len(name) == 16
    for bad in ("", "1.0", "1.0-xyz", "nan-0123456789abcdef", "abc-0123456789abcdef"):
        with pytest.raises(ValueError):
            parse_entry_id(bad)


def test_formats() -> None:
    assert [age(x) for x in (0.4, 12, 184, 7500, 273600)] == [
        "0.4s",
        "12s",
        "3m04s",
        "2h05m",
        "3d04h",
    ]
    assert age(-3) == "-3.0s" and utc(None) == "-" and utc(0) == "-"
    assert utc(1700000000) == "2023-11-14 22:13:20 UTC"
    assert [kib(x) for x in (812, 12800, 1258291)] == ["812 KB", "12.5 MB", "1.2 GB"]
    assert args_text([1, "é"]) == '[1, "é"]' and args_text(["x" * 50], 10) == '["xxxxxxx…'


def test_chart_oldest_first_scaled_to_the_peak() -> None:
    today = dt.date(2026, 1, 3)
    history = [DayStat(today - dt.timedelta(days=i), 100 * (i + 1), i) for i in range(3)]
    drawn = chart(history, width=300, height=110)
    assert [b.stat.day.day for b in drawn.bars] == [1, 2, 3] and drawn.peak == 300
    assert drawn.bars[0].processed_h == 100 and drawn.bars[2].processed_h == pytest.approx(100 / 3)
    assert [b.x for b in drawn.bars] == [0, 100, 200]
    assert chart([]).bars == [] and chart([]).peak == 1
