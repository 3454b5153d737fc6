"""Pure formatting for the dashboard templates: durations, times, sizes, arguments, the chart.

Keys touched: none.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from verk_compat.api import DayStat

__all__ = ["Bar", "Chart", "age", "args_text", "chart", "kib", "utc"]


def age(seconds: float) -> str:
    """A duration for people: ``0.4s``, ``12s``, ``3m04s``, ``2h05m``, ``3d04h``."""
    if seconds < 0:
        return "-" + age(-seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole}s" if whole < 60 else f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def utc(epoch: float | None) -> str:
    """Epoch seconds as ``YYYY-MM-DD HH:MM:SS UTC``; ``-`` for none."""
    if not epoch:
        return "-"
    return _dt.datetime.fromtimestamp(epoch, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def kib(value: int) -> str:
    """An RSS in KiB (Sidekiq's unit) as ``812 KB``, ``12.5 MB``, ``1.2 GB``."""
    if value < 1024:
        return f"{value} KB"
    if value < 1024 * 1024:
        return f"{value / 1024:.1f} MB"
    return f"{value / 1024 / 1024:.1f} GB"


def args_text(args: Any, width: int = 0) -> str:
    """Job arguments as JSON text (escaping is the template's job), cut to ``width`` if > 0."""
    text = json.dumps(args, ensure_ascii=False, default=str)
    return text if not width or len(text) <= width else text[: width - 1] + "…"


@dataclass(frozen=True, slots=True)
class Bar:
    """One day of the chart: x offset, bar heights (SVG units) and the numbers."""

    x: float
    processed_h: float
    failed_h: float
    stat: DayStat


@dataclass(frozen=True, slots=True)
class Chart:
    """A processed/failed bar chart, oldest day on the left, in a ``width`` x ``height`` box."""

    width: int
    height: int
    bar_width: float
    peak: int
    bars: list[Bar]


def chart(history: Sequence[DayStat], width: int = 720, height: int = 160) -> Chart:
    """Geometry of the history chart (``history`` newest first, as ``Stats.history`` gives it)."""
    days = list(reversed(history))
    peak = max([d.processed for d in days] + [d.failed for d in days] + [1])
    step = width / max(1, len(days))
    bar_width = max(1.0, step / 2 - 1)
    scale = (height - 10) / peak
    bars = [
        Bar(x=i * step, processed_h=d.processed * scale, failed_h=d.failed * scale, stat=d)
        for i, d in enumerate(days)
    ]
    return Chart(width=width, height=height, bar_width=bar_width, peak=peak, bars=bars)
