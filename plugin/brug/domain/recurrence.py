"""Recurrence rules (RFC 5545 RRULE) evaluated in a partnership's own time zone.

A rule is evaluated on naive wall-clock times and each occurrence is then placed in the zone, so
"every second Tuesday at 14:00" stays at 14:00 local time across daylight-saving changes.
"""

from __future__ import annotations

import heapq
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr


class RecurrenceError(ValueError):
    pass


@lru_cache(maxsize=4096)
def parse_rrule(rule: str, start: datetime) -> rrule:
    """Parse an RRULE value (with or without the 'RRULE:' prefix) anchored at a naive `start`."""
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if "DTSTART" in text.upper() or "\n" in text:
        raise RecurrenceError("give the first date as 'start', not inside the rule")
    try:
        parsed = rrulestr(text, dtstart=start)
    except (ValueError, TypeError) as err:
        raise RecurrenceError(str(err) or "unreadable rule") from None
    if not isinstance(parsed, rrule):
        raise RecurrenceError("one rule expected")
    if next(iter(parsed), None) is None:
        raise RecurrenceError("the rule gives no dates at all")
    if re.search(r"FREQ=(SECONDLY|MINUTELY|HOURLY)", text.upper()):
        raise RecurrenceError("at most once a day (FREQ=DAILY, WEEKLY, MONTHLY or YEARLY)")
    return parsed


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
            rule = parse_rrule(self.rule, self.start)
            streams.append(iter(rule.xafter(after_local, inc=False)) if after_local else iter(rule))
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
        return list(itertools.islice((m for m in found if m > after), limit))

    def between(self, start: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
        """Aware occurrences with start <= moment < end."""
        found = itertools.takewhile(lambda m: m < end, self._aware_from(start, zone))
        return [m for m in found if m >= start]

    def _aware_from(self, moment: datetime, zone: ZoneInfo) -> Iterator[datetime]:
        # Start a day early: near a DST change, wall-clock order and real order can differ by an hour.
        local = moment.astimezone(zone).replace(tzinfo=None) - timedelta(days=1)
        return (m.replace(tzinfo=zone) for m in self.local_times(local))
