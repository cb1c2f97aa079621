"""Describe a recurrence rule in plain words: 'elke tweede dinsdag van de maand om 14:00'.

Every rule brug accepts gets words, never its RRULE text: the rule is read by `parse_rrule` (the same
checked reading the scheduler expands with dateutil), and its parts are put into a sentence — how
often, on which days, in which months, at what time, and until when.
"""

from __future__ import annotations

import re
from datetime import datetime

from brug.domain.recurrence import DAYS, RecurrenceError, Rule, parse_rrule
from brug.domain.types import Language

_DAY_NAMES = {
    "nl": ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_MONTH_NAMES = {
    "nl": (
        *("januari", "februari", "maart", "april", "mei", "juni"),
        *("juli", "augustus", "september", "oktober", "november", "december"),
    ),
    "en": (
        *("January", "February", "March", "April", "May", "June"),
        *("July", "August", "September", "October", "November", "December"),
    ),
}
_ORDINALS = {
    "nl": {1: "eerste", 2: "tweede", 3: "derde", 4: "vierde", 5: "vijfde", -1: "laatste", -2: "voorlaatste"},
    "en": {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", -1: "last", -2: "second-to-last"},
}
_UNITS = {  # (one, several) per frequency
    "nl": {"DAILY": ("dag", "dagen"), "WEEKLY": ("week", "weken"), "MONTHLY": ("maand", "maanden"), "YEARLY": ("jaar", "jaar")},
    "en": {"DAILY": ("day", "days"), "WEEKLY": ("week", "weeks"), "MONTHLY": ("month", "months"), "YEARLY": ("year", "years")},
}
_WEEKDAYS = {0, 1, 2, 3, 4}
_ORDINAL_DAY = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
UNDESCRIBED = {"nl": "volgens een eigen ritme", "en": "on a rhythm of its own"}


def describe_rule(rule: str, start: datetime | None, language: Language) -> str:
    """Words for any rule brug accepts; a neutral phrase (never the rule's text) for one it does not."""
    try:
        parsed = parse_rrule(rule, start or datetime(2000, 1, 1))
    except RecurrenceError:
        return UNDESCRIBED[language]
    return _describe(parsed, language)


def _describe(rule: Rule, language: Language) -> str:
    nl = language == "nl"
    parts = dict(p.split("=", 1) for p in rule.period_rule.split(";") if "=" in p)
    days = [_ORDINAL_DAY.match(d) for d in parts.get("BYDAY", "").split(",") if d]
    plain = sorted({DAYS.index(m.group(2)) for m in days if m and not m.group(1)})
    numbered = [(int(m.group(1)), DAYS.index(m.group(2))) for m in days if m and m.group(1)]
    monthdays = [int(d) for d in parts.get("BYMONTHDAY", "").split(",") if d]
    months = [int(m) for m in parts.get("BYMONTH", "").split(",") if m]
    setpos = [int(s) for s in parts.get("BYSETPOS", "").split(",") if s]
    freq, interval = rule.freq, rule.interval

    every = _every(freq, interval, language)
    when = ""
    if freq == "MONTHLY" and interval == 1 and len(numbered) == 1 and not plain and not setpos and not monthdays:
        n, day = numbered[0]  # the common case, said the usual way
        every = f"elke {_ordinal(n, language)} {_day(day, language)} van de maand" if nl else (
            f"every {_ordinal(n, language)} {_day(day, language)} of the month"
        )
    elif freq == "YEARLY" and len(months) == 1 and len(monthdays) == 1 and not days and monthdays[0] > 0:
        when = f" op {monthdays[0]} {_month(months[0], language)}" if nl else f" on {monthdays[0]} {_month(months[0], language)}"
        months = []
    elif freq == "DAILY" and plain == list(range(7)):
        pass  # every day: nothing to add
    elif freq in ("DAILY", "WEEKLY") and set(plain) == _WEEKDAYS and interval == 1:
        every = "elke werkdag" if nl else "every weekday"
    else:
        if freq == "YEARLY":  # 'van september' when the months are named, else 'van het jaar'
            named = _join([_month(m, language) for m in months], language)
            of_period = (f" van {named}" if nl else f" of {named}") if months else (" van het jaar" if nl else " of the year")
            months = [] if months and (numbered or setpos or monthdays) else months
        else:
            of_period = ""
        when = _days_phrase(plain, numbered, setpos, monthdays, of_period, language)
    if months:
        when += f" in {_join([_month(m, language) for m in months], language)}"
    text = every + when
    text += f" om {rule.at:%H:%M}" if nl else f" at {rule.at:%H:%M}"
    if rule.count is not None:
        text += f", {rule.count} keer in totaal" if nl else f", {rule.count} times in all"
    elif rule.until is not None:
        until = rule.until
        day = f"{until.day} {_month(until.month, language)} {until.year}"
        text += f", tot en met {day}" if nl else f", until {day}"
    return text


def _every(freq: str, interval: int, language: Language) -> str:
    one, several = _UNITS[language][freq]
    if language == "nl":
        if interval == 1:
            return ("elk " if freq == "YEARLY" else "elke ") + one
        return f"om de {'twee' if interval == 2 else interval} {several}"
    if interval == 1:
        return f"every {one}"
    return f"every {'two' if interval == 2 else interval} {several}"


def _days_phrase(
    plain: list[int],
    numbered: list[tuple[int, int]],
    setpos: list[int],
    monthdays: list[int],
    of_period: str,
    language: Language,
) -> str:
    nl = language == "nl"
    chunks: list[str] = []
    if setpos and plain:
        day_words = ("werkdag" if nl else "weekday") if set(plain) == _WEEKDAYS else _join(
            [_day(d, language) for d in plain], language, "of" if nl else "or"
        )
        positions = _join([_ordinal(s, language) for s in setpos], language)
        chunks.append(f"de {positions} {day_words}{of_period}" if nl else f"the {positions} {day_words}{of_period}")
    elif plain:
        chunks.append(_join([_day(d, language) for d in plain], language))
    if numbered:
        said = [f"{_ordinal(n, language)} {_day(d, language)}" for n, d in numbered]
        chunks.append(("de " if nl else "the ") + _join(said, language) + of_period)
    if monthdays:
        said = [_monthday(d, language) for d in monthdays]
        chunks.append(("de " if nl else "the ") + _join(said, language) + of_period)
    if not chunks:
        return ""
    return (" op " if nl else " on ") + _join(chunks, language)


def _ordinal(n: int, language: Language) -> str:
    known = _ORDINALS[language].get(n)
    if known:
        return known
    if language == "nl":
        return f"{n}e" if n > 0 else f"{-n}e-laatste"
    return _numbered(n) if n > 0 else f"{_numbered(-n)}-to-last"


def _numbered(n: int) -> str:
    """1st, 2nd, 3rd, 11th, 22nd, …"""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _monthday(n: int, language: Language) -> str:
    if n == -1:
        return "laatste dag" if language == "nl" else "last day"
    if n < 0:
        return f"{_ordinal(n, language)} dag" if language == "nl" else f"{_ordinal(n, language)} day"
    return f"{n}e" if language == "nl" else _numbered(n)


def _day(index: int, language: Language) -> str:
    return _DAY_NAMES[language][index]


def _month(number: int, language: Language) -> str:
    return _MONTH_NAMES[language][number - 1]


def _join(items: list[str], language: Language, word: str | None = None) -> str:
    if len(items) <= 1:
        return "".join(items)
    last = word or ("en" if language == "nl" else "and")
    return ", ".join(items[:-1]) + f" {last} " + items[-1]
