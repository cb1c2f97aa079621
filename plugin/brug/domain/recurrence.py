"""Recurrence rules (RFC 5545 RRULE) evaluated in a partnership's own time zone.

A rule is evaluated on naive wall-clock times and each occurrence is then placed in the zone, so
"every second Tuesday at 14:00" stays at 14:00 local time across daylight-saving changes.

Every expansion is bounded, whatever the rule: brug accepts only rules that give a sensible series
(at most one date a day, at least one every two years), and it never lets python-dateutil walk
through time on its own. dateutil looks for the next match period after period until the year
9999 — 21 s for `FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30`, for ever with `INTERVAL=0` — so brug asks it
for one month (or one year) at a time and stops after `MAX_GAP_MONTHS` months without a date.
"""

from __future__ import annotations

import heapq
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr


class RecurrenceError(ValueError):
    """A rule brug refuses; `code` names the reason (translated in brug.content.problems)."""

    def __init__(self, code: str, **ctx: object) -> None:
        super().__init__(code, ctx)
        self.code = code
        self.ctx = ctx

    def __str__(self) -> str:
        return f"{self.code} {self.ctx}" if self.ctx else self.code


FREQS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
PARTS = (
    *("FREQ", "INTERVAL", "COUNT", "UNTIL", "WKST"),
    *("BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS", "BYHOUR", "BYMINUTE"),
)
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
MAX_INTERVAL = {"DAILY": 731, "WEEKLY": 104, "MONTHLY": 24, "YEARLY": 2}
MAX_COUNT = 1000
MAX_RULE_LENGTH = 300
TWO_YEARS = timedelta(days=732)  # a leap year and a bit: "once every two years" still fits
MAX_GAP_MONTHS = 25  # a search for the next date gives up after this many months without one
CHECK_MONTHS = 48  # a rule is tried on its first four years when it is read
MAX_YEAR = 9000

_DAY = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
_UNTIL = re.compile(r"^(\d{8})(?:T(\d{6})Z?)?$")


@dataclass(frozen=True)
class Rule:
    """A checked rule from a naive local start: the dates it gives, one month (or year) at a time."""

    freq: str
    interval: int
    count: int | None
    until: datetime | None
    start: datetime
    at: time  # the time of day of every occurrence
    wkst: int
    period_rule: str  # the rule of one period for dateutil: only the parts that select days

    def occurrences(self, after: datetime | None = None) -> Iterator[datetime]:
        """Occurrences in order, strictly after `after` when given; ends after MAX_GAP_MONTHS empty months."""
        if self.count is not None or after is None or after < self.start:
            first = (self.start.year, self.start.month)
        else:
            first = (after.year, after.month)
        seen = 0
        empty = 0
        for year, month in _months_from(*first):
            found = self._in_month(year, month)
            empty = 0 if found else empty + 1
            if empty > MAX_GAP_MONTHS:
                return
            for moment in found:
                if self.until is not None and moment > self.until:
                    return
                seen += 1
                if self.count is not None and seen > self.count:
                    return
                if after is None or moment > after:
                    yield moment

    def _in_month(self, year: int, month: int) -> tuple[datetime, ...]:
        if self.freq == "YEARLY":
            if (year - self.start.year) % self.interval:
                return ()
            days = _period_days(self.period_rule, "YEARLY", year, 1)
            days = tuple(d for d in days if d.month == month)
        elif self.freq == "MONTHLY":
            if ((year - self.start.year) * 12 + month - self.start.month) % self.interval:
                return ()
            days = _period_days(self.period_rule, "MONTHLY", year, month)
        else:
            days = _period_days(self.period_rule, "MONTHLY", year, month)
            days = tuple(d for d in days if self._in_phase(d))
        moments = (datetime.combine(d, self.at) for d in days)
        return tuple(m for m in moments if m >= self.start)

    def _in_phase(self, day: date) -> bool:
        if self.freq == "DAILY":
            return (day - self.start.date()).days % self.interval == 0
        weeks = (_week_start(day, self.wkst) - _week_start(self.start.date(), self.wkst)).days // 7
        return weeks % self.interval == 0


def _week_start(day: date, wkst: int) -> date:
    return day - timedelta(days=(day.weekday() - wkst) % 7)


def _months_from(year: int, month: int) -> Iterator[tuple[int, int]]:
    while year <= MAX_YEAR:
        yield year, month
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


@lru_cache(maxsize=8192)
def _period_days(period_rule: str, freq: str, year: int, month: int) -> tuple[date, ...]:
    """The days one period (a month, or a year) selects; dateutil looks at this period only."""
    # An interval far beyond the year 9999 makes dateutil stop after the first period.
    beyond = 120_000 if freq == "MONTHLY" else 10_000
    rule = rrulestr(f"FREQ={freq};INTERVAL={beyond};{period_rule}", dtstart=datetime(year, month, 1))
    return tuple(moment.date() for moment in rule)


@lru_cache(maxsize=4096)
def parse_rrule(rule: str, start: datetime) -> Rule:
    """Check an RRULE value (with or without the 'RRULE:' prefix) anchored at a naive `start`."""
    text = rule.strip()
    if len(text) > MAX_RULE_LENGTH:
        raise RecurrenceError("too_long", max=MAX_RULE_LENGTH)
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    parts: dict[str, str] = {}
    for piece in filter(None, text.upper().split(";")):
        name, equals, value = piece.partition("=")
        name, value = name.strip(), value.strip()
        if name == "DTSTART" or "\n" in piece:
            raise RecurrenceError("dtstart")
        if not equals or not value:
            raise RecurrenceError("syntax", part=piece[:40])
        if name not in PARTS:
            raise RecurrenceError("unsupported", part=name[:40], parts=", ".join(PARTS))
        if name in parts:
            raise RecurrenceError("twice", part=name)
        parts[name] = value
    freq = parts.get("FREQ")
    if freq in ("SECONDLY", "MINUTELY", "HOURLY"):
        raise RecurrenceError("too_often")
    if freq not in FREQS:
        raise RecurrenceError("freq", value=(freq or "")[:40])
    interval = _number(parts, "INTERVAL", 1, 1, MAX_INTERVAL[freq])
    count = _number(parts, "COUNT", None, 1, MAX_COUNT)
    until = _until(parts.get("UNTIL"))
    if until is not None and count is not None:
        raise RecurrenceError("count_and_until")
    if until is not None and until < start:
        raise RecurrenceError("until_before_start")
    hour = _number(parts, "BYHOUR", start.hour, 0, 23, once_a_day=True)
    minute = _number(parts, "BYMINUTE", start.minute, 0, 59, once_a_day=True)
    wkst = DAYS.index(parts["WKST"]) if parts.get("WKST") in DAYS else 0
    if "WKST" in parts and parts["WKST"] not in DAYS:
        raise RecurrenceError("value", part="WKST", value=parts["WKST"][:40])

    selecting: list[str] = []
    days = parts.get("BYDAY")
    if days is not None:
        # the n-th weekday of a month is at most the fifth; of a year (without BYMONTH) the 53rd
        most = 53 if freq == "YEARLY" and "BYMONTH" not in parts else 5
        for day in days.split(","):
            found = _DAY.match(day.strip())
            if not found or (found.group(1) and not 1 <= abs(int(found.group(1))) <= most):
                raise RecurrenceError("value", part="BYDAY", value=day[:40])
            if found.group(1) and freq in ("DAILY", "WEEKLY"):
                raise RecurrenceError("nth_day")
        selecting.append(f"BYDAY={days}")
    _int_list(parts, "BYMONTHDAY", 1, 31, selecting, signed=True)
    _int_list(parts, "BYMONTH", 1, 12, selecting)
    if "BYSETPOS" in parts:
        if freq not in ("MONTHLY", "YEARLY"):
            raise RecurrenceError("setpos")
        _int_list(parts, "BYSETPOS", 1, 366, selecting, signed=True)
    if days is None and "BYMONTHDAY" not in parts:  # dateutil's defaults, taken from the first date
        if freq == "YEARLY":
            selecting += [] if "BYMONTH" in parts else [f"BYMONTH={start.month}"]
            selecting.append(f"BYMONTHDAY={start.day}")
        elif freq == "MONTHLY":
            selecting.append(f"BYMONTHDAY={start.day}")
        elif freq == "WEEKLY":
            selecting.append(f"BYDAY={DAYS[start.weekday()]}")
        else:
            selecting.append("BYDAY=" + ",".join(DAYS))
    checked = Rule(
        freq, interval, count, until, start, time(hour, minute, start.second), wkst, ";".join(selecting)
    )
    try:
        _period_days(checked.period_rule, "YEARLY" if freq == "YEARLY" else "MONTHLY", start.year, start.month)
    except (ValueError, TypeError, OverflowError) as err:
        raise RecurrenceError("syntax", part=str(err)[:60]) from None
    _check_series(checked)
    return checked


def _check_series(rule: Rule) -> None:
    """A sensible series: a first date within two years of the start, and no gap longer than two years."""
    horizon = rule.start + timedelta(days=CHECK_MONTHS * 30)
    previous: datetime | None = None
    for moment in rule.occurrences():
        if moment - (previous or rule.start) > TWO_YEARS:
            raise RecurrenceError("too_rare" if previous else "no_dates")
        if moment > horizon:
            return
        previous = moment
    if previous is None:
        raise RecurrenceError("no_dates")
    if rule.count is None and rule.until is None:  # the dates stopped by themselves: a long gap follows
        raise RecurrenceError("too_rare")


def _number(  # type: ignore[no-untyped-def]
    parts: dict[str, str], name: str, default: int | None, low: int, high: int, *, once_a_day: bool = False
):
    value = parts.get(name)
    if value is None:
        return default
    if once_a_day and "," in value:
        raise RecurrenceError("several_a_day", part=name)
    if not re.fullmatch(r"\d{1,6}", value):
        raise RecurrenceError("value", part=name, value=value[:40])
    number = int(value)
    if not low <= number <= high:
        raise RecurrenceError("range", part=name, low=low, high=high, value=number)
    return number


def _int_list(parts: dict[str, str], name: str, low: int, high: int, out: list[str], *, signed: bool = False) -> None:
    value = parts.get(name)
    if value is None:
        return
    for item in value.split(","):
        item = item.strip()
        pattern = r"[+-]?\d{1,3}" if signed else r"\+?\d{1,3}"
        if not re.fullmatch(pattern, item) or not low <= abs(int(item)) <= high:
            raise RecurrenceError("value", part=name, value=item[:40])
    out.append(f"{name}={value}")


def _until(value: str | None) -> datetime | None:
    """UNTIL as a local wall-clock time (a trailing Z is read as local too: at most hours apart)."""
    if value is None:
        return None
    found = _UNTIL.match(value)
    try:
        if not found:
            raise ValueError
        day = datetime.strptime(found.group(1), "%Y%m%d")
        if found.group(2) is None:
            return day.replace(hour=23, minute=59, second=59)
        return datetime.strptime(found.group(1) + found.group(2), "%Y%m%d%H%M%S")
    except ValueError:
        raise RecurrenceError("value", part="UNTIL", value=value[:40]) from None


MAX_OCCURRENCES = 5000  # one question about a rule never returns more dates than this


@dataclass(frozen=True)
class Recurrence:
    """A rule from a start, plus explicit extra dates; all naive local wall-clock times."""

    rule: str | None = None
    start: datetime | None = None
    dates: tuple[datetime, ...] = ()

    def local_times(self, after_local: datetime | None = None) -> Iterator[datetime]:
        """Naive local occurrences in order, strictly after `after_local` when given."""
        streams: list[Iterator[datetime]] = [iter(sorted(self.dates))]
        if self.rule is not None and self.start is not None:
            streams.append(parse_rrule(self.rule, self.start).occurrences(after_local))
        previous = None
        for moment in heapq.merge(*streams):
            if after_local is not None and moment <= after_local:
                continue
            if moment != previous:
                yield moment
            previous = moment

    def after(self, after: datetime, zone: ZoneInfo, limit: int) -> list[datetime]:
        """The first `limit` aware occurrences strictly after the aware moment `after`."""
        found = self._aware_from(after, zone)
        return list(itertools.islice((m for m in found if m > after), min(limit, MAX_OCCURRENCES)))

    def between(self, start: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
        """Aware occurrences with start <= moment < end (at most MAX_OCCURRENCES of them)."""
        found = itertools.takewhile(lambda m: m < end, self._aware_from(start, zone))
        return list(itertools.islice((m for m in found if m >= start), MAX_OCCURRENCES))

    def _aware_from(self, moment: datetime, zone: ZoneInfo) -> Iterator[datetime]:
        # Start a day early: near a DST change, wall-clock order and real order can differ by an hour.
        local = moment.astimezone(zone).replace(tzinfo=None) - timedelta(days=1)
        return (m.replace(tzinfo=zone) for m in self.local_times(local))
