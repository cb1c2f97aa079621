"""Describe a recurrence rule in plain words: 'elke tweede dinsdag van de maand om 14:00'."""

from __future__ import annotations

import re
from datetime import datetime

from brug.domain.types import Language

_DAYS = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
_DAY_NAMES = {
    "nl": ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
_ORDINALS = {
    "nl": {1: "eerste", 2: "tweede", 3: "derde", 4: "vierde", 5: "vijfde", -1: "laatste"},
    "en": {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", -1: "last"},
}


def describe_rule(rule: str, start: datetime | None, language: Language) -> str:
    """Plain words for the common rules; the rule itself for anything unusual."""
    parts = dict(p.split("=", 1) for p in rule.upper().removeprefix("RRULE:").split(";") if "=" in p)
    freq, interval = parts.get("FREQ"), int(parts.get("INTERVAL", "1"))
    time = _time(parts, start)
    at = ("om " if language == "nl" else "at ") + time if time else ""
    days = [
        m
        for m in (re.fullmatch(r"([+-]?\d)?(MO|TU|WE|TH|FR|SA|SU)", d) for d in parts.get("BYDAY", "").split(","))
        if m
    ]
    known = set(parts) <= {"FREQ", "INTERVAL", "BYDAY", "BYHOUR", "BYMINUTE", "COUNT", "UNTIL", "WKST", "BYMONTHDAY"}
    text: str | None = None
    if not known:
        text = None
    elif freq == "WEEKLY":
        names = _join(
            [_DAY_NAMES[language][_DAYS[m.group(2)]] for m in days]
            or ([_DAY_NAMES[language][start.weekday()]] if start else []),
            language,
        )
        if language == "nl":
            every = {1: "elke week", 2: "om de twee weken"}.get(interval, f"om de {interval} weken")
            text = f"{every} op {names}" if names else every
        else:
            every = {1: "every week", 2: "every two weeks"}.get(interval, f"every {interval} weeks")
            text = f"{every} on {names}" if names else every
    elif freq == "MONTHLY" and interval == 1 and len(days) == 1 and days[0].group(1):
        n, day = int(days[0].group(1)), _DAY_NAMES[language][_DAYS[days[0].group(2)]]
        if n in _ORDINALS[language]:
            text = (
                f"elke {_ORDINALS['nl'][n]} {day} van de maand"
                if language == "nl"
                else f"every {_ORDINALS['en'][n]} {day} of the month"
            )
    elif freq == "MONTHLY" and "BYMONTHDAY" in parts and not days:
        every = (
            ("elke maand" if interval == 1 else f"om de {interval} maanden")
            if language == "nl"
            else ("every month" if interval == 1 else f"every {interval} months")
        )
        text = f"{every} op de {parts['BYMONTHDAY']}e" if language == "nl" else f"{every} on day {parts['BYMONTHDAY']}"
    elif freq == "MONTHLY" and not days:
        if language == "nl":
            text = "elke maand" if interval == 1 else f"om de {interval} maanden"
        else:
            text = "every month" if interval == 1 else f"every {interval} months"
    elif freq == "DAILY" and interval == 1:
        text = "elke dag" if language == "nl" else "every day"
    if text is None:
        return rule
    return f"{text} {at}".strip()


def _time(parts: dict[str, str], start: datetime | None) -> str | None:
    if "BYHOUR" in parts and "," not in parts["BYHOUR"] and "," not in parts.get("BYMINUTE", ""):
        return f"{int(parts['BYHOUR']):02d}:{int(parts.get('BYMINUTE', '0') or 0):02d}"
    if start is not None:
        return f"{start.hour:02d}:{start.minute:02d}"
    return None


def _join(items: list[str], language: Language) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + (" en " if language == "nl" else " and ") + items[-1]
