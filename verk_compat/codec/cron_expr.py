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
(``mon%2``), impossible dates (``0 0 30 2 *``). Around a DST change the local-time arithmetic
may pick a tick fugit does not (an hour that does not exist, or exists twice).
"""

from __future__ import annotations

import calendar
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
        ``previous_time``, which sidekiq-cron calls with the poll time)."""
        t = self._wall(math.floor(now) - 1)
        for _ in range(MAX_ITERATIONS):
            if not self._month_ok(t):
                t = t.replace(day=1, hour=0, minute=0, second=0) - _SECOND
            elif not self._day_ok(t):
                t = t.replace(hour=0, minute=0, second=0) - _SECOND
            elif not _ok(self.hours, t.hour):
                t = t.replace(minute=0, second=0) - _SECOND
            elif not _ok(self.minutes, t.minute):
                t = t.replace(second=0) - _SECOND
            elif t.second not in self.seconds:
                earlier = [s for s in self.seconds if s < t.second]
                t = t.replace(second=earlier[-1]) if earlier else t.replace(second=0) - _SECOND
            else:
                return self._epoch(t)
        raise CronError(f"no tick found for {self.source!r} (an impossible date?)")

    def next_time(self, now: float) -> float:
        """Epoch seconds of the earliest tick strictly after ``floor(now)``."""
        t = self._wall(math.floor(now) + 1)
        for _ in range(MAX_ITERATIONS):
            if not self._month_ok(t):
                t = _first_of_next_month(t)
            elif not self._day_ok(t):
                t = t.replace(hour=0, minute=0, second=0) + _DAY
            elif not _ok(self.hours, t.hour):
                t = t.replace(minute=0, second=0) + _HOUR
            elif not _ok(self.minutes, t.minute):
                t = t.replace(second=0) + _MINUTE
            elif t.second not in self.seconds:
                later = [s for s in self.seconds if s > t.second]
                t = t.replace(second=later[0]) if later else t.replace(second=0) + _MINUTE
            else:
                return self._epoch(t)
        raise CronError(f"no tick found for {self.source!r} (an impossible date?)")

    def _wall(self, epoch: int) -> _dt.datetime:
        """Naive wall-clock time of ``epoch`` in this expression's zone (local without one)."""
        if self.zone is None:
            return _dt.datetime.fromtimestamp(epoch)
        return _dt.datetime.fromtimestamp(epoch, self.zone).replace(tzinfo=None)

    def _epoch(self, wall: _dt.datetime) -> float:
        if self.zone is None:
            return wall.timestamp()
        return wall.replace(tzinfo=self.zone).timestamp()

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
            last = calendar.monthrange(t.year, t.month)[1]
            if nth > 0 and nth == (t.day - 1) // 7 + 1:
                return True
            if nth < 0 and nth == -((last - t.day) // 7 + 1):
                return True
        return False

    def _monthday_ok(self, t: _dt.datetime) -> bool:
        if self.monthdays is None:
            return True
        last = calendar.monthrange(t.year, t.month)[1] + 1
        return any((last + d if d < 1 else d) == t.day for d in self.monthdays)


_SECOND = _dt.timedelta(seconds=1)
_MINUTE = _dt.timedelta(minutes=1)
_HOUR = _dt.timedelta(hours=1)
_DAY = _dt.timedelta(days=1)


def _ok(allowed: tuple[int, ...] | None, value: int) -> bool:
    return allowed is None or value in allowed


def _first_of_next_month(t: _dt.datetime) -> _dt.datetime:
    year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
    return _dt.datetime(year, month, 1)


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
