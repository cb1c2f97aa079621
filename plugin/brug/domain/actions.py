"""Actions — who does what by when — written as a chat command or as a line in the minutes.

In the minutes:   - [ ] Lokaal boeken — Els — 2026-12-01      (ticked: - [x] …)
In chat:          !actie Lokaal boeken @els 1/12
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

_LINE = re.compile(r"^\s*[-*+]\s+\[(?P<mark>[ xX])\]\s+(?P<body>.*\S)\s*$")
_SEPARATOR = re.compile(r"\s+[—–]\s+|\s+--?\s+")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{2,4}))?$")


@dataclass(frozen=True)
class ActionLine:
    text: str
    who: str | None
    due: date | None
    done: bool


@dataclass(frozen=True)
class Unreadable:
    """A line that looks like an action but cannot be read; kept and shown, never dropped."""

    line_number: int
    text: str


def parse_date(text: str, today: date) -> date | None:
    """'2026-12-01', '1/12', '1-12-2026', '01.12.26' -> a date; None when it is not a date.

    A day/month without a year means the next such day from `today` on.
    """
    text = text.strip()
    try:
        if m := _ISO.match(text):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := _DMY.match(text):
            day, month = int(m[1]), int(m[2])
            if m[3]:
                year = int(m[3]) + (2000 if len(m[3]) == 2 else 0)
                return date(year, month, day)
            candidate = date(today.year, month, day)
            return candidate if candidate >= today else date(today.year + 1, month, day)
    except ValueError:
        return None
    return None


def parse_action_line(line: str, today: date) -> ActionLine | None:
    """Read one task-list line; None when the line is not a task line at all."""
    m = _LINE.match(line)
    if not m:
        return None
    parts = [p.strip() for p in _SEPARATOR.split(m["body"])]
    text, who, due = parts[0], None, None
    for part in parts[1:]:
        maybe = parse_date(part, today)
        if maybe is not None and due is None:
            due = maybe
        elif who is None and part:
            who = part
        else:
            text = f"{text} — {part}"
    return ActionLine(text=text, who=who, due=due, done=m["mark"] in "xX")


_EMPTY_BOX = re.compile(r"^\s*[-*+]\s+\[[ xX]?\]\s*$")
_LIST_ITEM = re.compile(r"^\s*[-*+]\s+\S")


def section_lines(markdown: str, section_titles: tuple[str, ...]) -> Iterator[tuple[int, str]]:
    """(line number, line) of every line under a heading named like one of `section_titles`."""
    inside = False
    titles = {t.lower() for t in section_titles}
    for number, line in enumerate(markdown.splitlines(), 1):
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            inside = heading[1].strip().lower() in titles
        elif inside:
            yield number, line


def read_actions(
    markdown: str, today: date, section_titles: tuple[str, ...]
) -> tuple[list[ActionLine], list[Unreadable]]:
    """The action lines under a heading named like one of `section_titles` (e.g. 'Acties').

    An empty box (`- [ ]`) is a line left for the next action and is ignored; any other list line
    in that section that is not a readable action is returned as unreadable, never dropped.
    """
    found: list[ActionLine] = []
    unreadable: list[Unreadable] = []
    for number, line in section_lines(markdown, section_titles):
        if not line.strip() or _EMPTY_BOX.match(line):
            continue
        action = parse_action_line(line, today)
        if action is not None:
            found.append(action)
        elif _LIST_ITEM.match(line):
            unreadable.append(Unreadable(number, line.strip()))
    return found, unreadable


@dataclass(frozen=True)
class ActionCommand:
    text: str
    who: str | None
    due: date | None


def parse_action_command(args: str, today: date) -> ActionCommand | None:
    """'<tekst> [@wie] [datum]' -> the parts; None when there is no text."""
    words = args.split()
    due = None
    if words and (d := parse_date(words[-1], today)) is not None:
        due, words = d, words[:-1]
    who = None
    mentions = [w for w in words if w.startswith("@") and len(w) > 1]
    if mentions:
        who = mentions[-1]
        words.remove(who)
        who = who.lstrip("@")
    text = " ".join(words).strip()
    if not text:
        return None
    return ActionCommand(text=text, who=who, due=due)
