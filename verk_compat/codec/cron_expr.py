"""Cron expressions as sidekiq-cron reads them (fugit 1.5): parse, previous and next tick.

Pure: touches no Redis key. What is accepted is what ``Fugit::Cron.parse`` accepts:

* 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first);
* ``*``, ``N``, ``N-M`` (a range may wrap: ``22-2``), ``*/S``, ``N-M/S``, ``N/S`` (from N to
  the end), ``/S``, comma lists; month and weekday names (``jan``, ``mon``; three letters);
  weekday ``7`` is Sunday; hour ``24`` is 0;
* day of month ``L`` / ``last`` / negative days (``-1`` is the last day, ``-2`` the one before);
* weekday ``#n`` (``mon#2``: second Monday; ``fri#-1`` / ``fri#L``: last Friday);
* a time zone after the fields: an IANA name (``Europe/Paris``) or an offset (``+05:30``);
* ``@yearly @annually @monthly @weekly @daily @midnight @noon @hourly``.

When both day fields are restricted, a day matching either runs (``man 5 crontab``; fugit).
Without a zone, times are the process's local time, as fugit reads them (set ``TZ`` alike on
Ruby and Python processes). Refused with :class:`CronError` naming the problem: fugit's
natural-language schedules (``every day at noon``), ``@reboot``, the weekday modulo extension
(``mon%2``), impossible dates (``0 0 30 2 *``). The previous and next ticks follow fugit's
cursor (absolute-second steps, wall clock read in the zone), quirks across DST included, since
Ruby and Python pollers must name the same tick.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["CronError", "CronExpr", "parse"]


class CronError(ValueError):
    """A cron string sidekiq-cron would refuse, or an extension this parser does not support."""


SPECIALS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@noon": "0 12 * * *",
    "@hourly": "0 * * * *",
}
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MAXDAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
MAX_ITERATIONS = 2048

# One bound of each field, as fugit's grammar spells it.
_BOUND = {
    "sec": r"[0-5]?\d",
    "min": r"[0-5]?\d",
    "hour": r"2[0-4]|[01]?[0-9]",
    "dom": r"-?(?:3[01]|[12][0-9]|0?[1-9])|last|l",
    "month": r"1[0-2]|0?[1-9]|" + "|".join(MONTHS),
    "dow": r"[0-7]|" + "|".join(WEEKDAYS),
}
_LIMITS = {"sec": (0, 59), "min": (0, 59), "hour": (0, 23), "dom": (1, 31), "month": (1, 12)}
_TZ_NAME = re.compile(r"[A-Z][a-zA-Z0-9+\-]+(/[A-Z][a-zA-Z0-9+\-_]+){0,2}")
_TZ_DELTA = re.compile(r"([-+])([01][0-9]|2[0-4]):?(00|15|30|45)")
_FIELDS = re.compile(r"[ \t]+")


def _element(kind: str) -> re.Pattern[str]:
    b = _BOUND[kind]
    tail = r"(?:#(?P<hash>-?[1-5]|last|l))?" if kind == "dow" else ""
    return re.compile(
        rf"(?:(?P<star>\*)|(?P<a>{b})(?:-(?P<z>{b}))?)?(?:/(?P<step>\d\d?))?{tail}", re.I
    )


_ELEMENTS = {kind: _element(kind) for kind in _BOUND}

Weekday = tuple[int, int | None]  # (0 = Sunday .. 6, nth in month or None)


@dataclass(frozen=True, slots=True)
class CronExpr:
    """A parsed cron string; ``None`` for a field means any value."""

    source: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...] | None
    hours: tuple[int, ...] | None
    monthdays: tuple[int, ...] | None
    months: tuple[int, ...] | None
    weekdays: tuple[Weekday, ...] | None
    zone: _dt.tzinfo | None

    def previous_time(self, now: float) -> float:
        """Epoch seconds of the latest tick strictly before ``floor(now)`` (fugit's
        ``previous_time``, which sidekiq-cron calls with the poll time).

        Like fugit's cursor, this steps in absolute seconds and reads the wall clock of the
        zone at each step, so across a DST change it lands where fugit lands.
        """
        t = math.floor(now) - 1
        for _ in range(MAX_ITERATIONS):
            w = self._wall(t)
            if not self._month_ok(w):
                t -= (w.day - 1) * 86400 + w.hour * 3600 + w.minute * 60 + w.second + 1
            elif not self._day_ok(w):
                t -= w.hour * 3600 + w.minute * 60 + w.second + 1
            elif not _ok(self.hours, w.hour):
                t -= w.minute * 60 + w.second + 1
            elif not _ok(self.minutes, w.minute):
                t -= w.second + 1
            elif w.second not in self.seconds:
                earlier = [x for x in self.seconds if x < w.second]
                target = earlier[-1] if earlier else self.seconds[-1]
                t += target - w.second - (0 if w.second > target else 60)
            else:
                return float(t)
        raise CronError(f"no tick found for {self.source!r} (an impossible date?)")

    def next_time(self, now: float) -> float:
        """Epoch seconds of the earliest tick strictly after ``floor(now)`` (fugit's
        ``next_time``, same cursor arithmetic)."""
        origin = t = math.floor(now)
        start = self._wall(origin)
        for _ in range(MAX_ITERATIONS):
            if t == origin:
                t += 1
                continue
            w = self._wall(t)
            if not self._month_ok(w):
                y, m = (w.year + 1, 1) if w.month == 12 else (w.year, w.month + 1)
                t = self._midnight(y, m, 1)
            elif not self._day_ok(w):
                t = self._next_day(t, w)
            elif not _ok(self.hours, w.hour):
                t += (60 - w.minute) * 60 - w.second
            elif not _ok(self.minutes, w.minute):
                t += 60 - w.second
            elif w.second not in self.seconds:
                later = [x for x in self.seconds if x > w.second]
                t += later[0] - w.second if later else 60 - w.second + self.seconds[0]
            elif w.replace(tzinfo=None) == start.replace(tzinfo=None) and w.utcoffset() != (
                start.utcoffset()
            ):
                # The same wall time again after a DST fall-back: fugit moves on (its gh-6).
                origin, start = t, w
            else:
                return float(t)
        raise CronError(f"no tick found for {self.source!r} (an impossible date?)")

    def _next_day(self, t: int, w: _dt.datetime) -> int:
        """fugit's ``inc_day``: to the next midnight, mending a DST-shifted landing."""
        t += (24 - w.hour) * 3600 - w.minute * 60 - w.second
        landed = self._wall(t)
        if landed.hour == 0:
            return t
        if landed.hour < 12:
            # A midnight that does not exist (a DST gap at 00:00) reads as the hour after.
            return self._midnight(landed.year, landed.month, landed.day)
        return t + (24 - landed.hour) * 3600

    def _wall(self, epoch: int) -> _dt.datetime:
        """Wall-clock time of ``epoch`` in this expression's zone (local time without one)."""
        if self.zone is None:
            return _dt.datetime.fromtimestamp(epoch).astimezone()
        return _dt.datetime.fromtimestamp(epoch, self.zone)

    def _midnight(self, year: int, month: int, day: int) -> int:
        wall = _dt.datetime(year, month, day)
        if self.zone is None:
            return int(wall.timestamp())
        return int(wall.replace(tzinfo=self.zone).timestamp())

    def _month_ok(self, t: _dt.datetime) -> bool:
        return _ok(self.months, t.month)

    def _day_ok(self, t: _dt.datetime) -> bool:
        if self.weekdays is not None and self.monthdays is not None:
            return self._weekday_ok(t) or self._monthday_ok(t)
        return self._weekday_ok(t) and self._monthday_ok(t)

    def _weekday_ok(self, t: _dt.datetime) -> bool:
        if self.weekdays is None:
            return True
        wday = (t.weekday() + 1) % 7
        for day, nth in self.weekdays:
            if day != wday:
                continue
            if nth is None:
                return True
            if nth == (self._weeks(t, -1) if nth > 0 else -self._weeks(t, 1)):
                return True
        return False

    def _weeks(self, t: _dt.datetime, direction: int) -> int:
        """et-orbi's ``count_weeks``: absolute 7-day steps from ``t`` while still in its month
        (a DST change between the steps moves the wall clock, as it does in Ruby)."""
        count, epoch = 0, int(t.timestamp())
        while self._wall(epoch).month == t.month:
            count += 1
            epoch += direction * 7 * 86400
        return count

    def _monthday_ok(self, t: _dt.datetime) -> bool:
        if self.monthdays is None:
            return True
        # fugit's "last day": 24 h (absolute) before the next month's first midnight, which a
        # DST change on the last day moves one day back.
        y, m = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
        last = self._wall(self._midnight(y, m, 1) - 86400).day + 1
        return any((last + d if d < 1 else d) == t.day for d in self.monthdays)


def _ok(allowed: tuple[int, ...] | None, value: int) -> bool:
    return allowed is None or value in allowed


def parse(text: str) -> CronExpr:
    """Parse ``text`` as sidekiq-cron (fugit) would, or raise :class:`CronError`."""
    if not isinstance(text, str):
        raise CronError(f"a cron string is a str, not {type(text).__name__}")
    source = text
    if text == "@reboot":
        raise CronError("'@reboot' is not a periodic schedule (sidekiq-cron refuses it too)")
    text = SPECIALS.get(text, text)
    fields = _FIELDS.split(text)
    zone: _dt.tzinfo | None = None
    # fugit tries a seconds cron first: a sixth field is a zone only if it is no weekday list.
    if len(fields) == 7 or (len(fields) == 6 and not _is_dow(fields[-1])):
        zone = _zone(fields.pop(), source)
    if len(fields) == 5:
        fields.insert(0, "0")
    if len(fields) != 6 or not all(fields):
        raise CronError(
            f"invalid cron string {source!r}: expected 5 or 6 fields and an optional time zone"
            " (natural-language schedules such as 'every 5 minutes' are not supported)"
        )
    sec, mins, hours, dom, month, dow = fields
    expr = CronExpr(
        source=source,
        seconds=_field("sec", sec, source) or tuple(range(60)),
        minutes=_field("min", mins, source),
        hours=_hours(hours, source),
        monthdays=_field("dom", dom, source),
        months=_field("month", month, source),
        weekdays=_weekdays(dow, source),
        zone=zone,
    )
    return _compact(expr)


def _is_dow(text: str) -> bool:
    return all(_ELEMENTS["dow"].fullmatch(item) for item in text.split(","))


def _zone(text: str, source: str) -> _dt.tzinfo:
    delta = _TZ_DELTA.fullmatch(text)
    if delta:
        sign, hh, mm = delta.groups()
        offset = _dt.timedelta(hours=int(hh), minutes=int(mm))
        return _dt.timezone(-offset if sign == "-" else offset)
    if _TZ_NAME.fullmatch(text):
        try:
            return ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise CronError(f"invalid cron string {source!r}: unknown time zone {text!r}")


def _bound(kind: str, token: str) -> int:
    low = token.lower()
    if kind == "month" and low in MONTHS:
        return MONTHS.index(low) + 1
    if kind == "dow" and low in WEEKDAYS:
        return WEEKDAYS.index(low)
    if kind == "dom" and low[:1] == "l":
        return -1
    return int(token)


def _parts(kind: str, item: str, source: str) -> dict[str, str | None]:
    if kind == "dow" and "%" in item:
        raise CronError(f"cron string {source!r}: the weekday modulo extension is not supported")
    match = _ELEMENTS[kind].fullmatch(item)
    if match is None or not (match["star"] or match["a"] or match["step"]):
        raise CronError(f"invalid cron string {source!r}: bad {kind} field element {item!r}")
    if match["star"] and (match.groupdict().get("hash")):
        raise CronError(f"invalid cron string {source!r}: bad {kind} field element {item!r}")
    if match["step"] is not None and int(match["step"]) == 0:
        raise CronError(f"invalid cron string {source!r}: a step of 0 in {item!r}")
    return match.groupdict()


def _field(kind: str, text: str, source: str) -> tuple[int, ...] | None:
    """The sorted values of a field, or None for any (fugit's ``expand`` and ``range``)."""
    low, high = _LIMITS[kind]
    values: list[int] = []
    for item in text.split(","):
        g = _parts(kind, item, source)
        sta = None if g["a"] is None else _bound(kind, g["a"])
        edn = None if g["z"] is None else _bound(kind, g["z"])
        step = None if g["step"] in (None, "1") else int(g["step"] or 0)
        if step and edn is None:
            edn = high
        if sta is None and edn is None and step is None:
            return None  # a star: any value
        if sta is not None and edn is None:
            values.append(sta)
            continue
        sta = low if sta is None else sta
        assert edn is not None
        if edn < 0 < sta:
            edn = high
        values.extend(_range(low, high, sta, edn, step or 1, source))
    return tuple(sorted(set(values)))


def _range(low: int, high: int, sta: int, edn: int, step: int, source: str) -> list[int]:
    """fugit's ``range``: from ``sta`` to ``edn``, wrapping past ``high``, every ``step``th."""
    if (sta < 0 < edn) or (edn < 0 < sta):
        raise CronError(f"invalid cron string {source!r}: a range mixes negative and positive")
    if sta < 0:
        low, high = -high, -1
    out: list[int] = []
    cur = sta
    while True:
        out.append(cur)
        if cur == edn:
            break
        cur += 1
        if cur > high:
            cur = low
            if edn > high:
                edn = edn - high - 1
        if len(out) > 2 * (high - low + 2):
            raise CronError(f"invalid cron string {source!r}: a range never ends")
    return list(dict.fromkeys(out[::step]))


def _hours(text: str, source: str) -> tuple[int, ...] | None:
    hours = _field("hour", text, source)
    return None if hours is None else tuple(sorted({0 if h == 24 else h for h in hours}))


def _weekdays(text: str, source: str) -> tuple[Weekday, ...] | None:
    """fugit's ``determine_weekdays``, ``#n`` included (a step counts from ``a`` to ``a``!)."""
    days: list[Weekday] = []
    for item in text.split(","):
        g = _parts("dow", item, source)
        a = None if g["a"] is None else _bound("dow", g["a"])
        z = None if g["z"] is None else _bound("dow", g["z"])
        step = None if g["step"] is None else int(g["step"])
        if g["hash"] is not None:
            nth = -1 if g["hash"].lower()[:1] == "l" else int(g["hash"])
            days.append((a if a is not None else 0, nth))
        elif step is not None:
            end = z if z is not None else (a if a is not None else 6)
            days.extend((i, None) for i in range(a or 0, end + 1, max(step, 1)))
        elif a is not None and z is not None:
            z = z + 7 if a > z else z
            days.extend((i - 7 if i > 6 else i, None) for i in range(a, z + 1))
        elif a is not None:
            days.append((a, None))
    fixed = sorted({(0 if d == 7 else d, n) for d, n in days}, key=lambda w: (w[0], w[1] or 0))
    return tuple(fixed) or None


def _compact(expr: CronExpr) -> CronExpr:
    """Drop (month, day) pairs that never exist; refuse an expression left with none."""
    if expr.months is None or expr.monthdays is None:
        return expr
    pairs = [(m, d) for m in expr.months for d in expr.monthdays if d <= MAXDAYS[m]]
    if not pairs:
        raise CronError(f"invalid cron string {expr.source!r}: no such date in any month")
    months = tuple(dict.fromkeys(m for m, _ in pairs))
    days = tuple(dict.fromkeys(d for _, d in pairs))
    return CronExpr(
        expr.source, expr.seconds, expr.minutes, expr.hours, days, months, expr.weekdays, expr.zone
    )
