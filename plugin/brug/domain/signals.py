"""Signals to policy: what partners see that no single organisation can solve, followed up until answered.

A signal has a number, a date, who raised it and for which organisation, a theme (from
`workflows/signals.yaml`, or free text), a level (micro, meso, macro) and a status that moves on:

    nieuw → besproken → doorgegeven (aan wie, wanneer) → antwoord ontvangen → afgesloten

In chat:        !signaal De schoolbus vertrekt voor de naschoolse opvang sluit #mobiliteit #meso
                !signaal 3 doorgegeven aan de schepen van onderwijs
In the minutes: - De schoolbus vertrekt voor de naschoolse opvang sluit — mobiliteit — meso
                - #3 doorgegeven aan de schepen van onderwijs

This module is pure: parsing, the rules of the status, and the views the log, the agenda and the
signalennota are made of.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum

from pydantic import Field

from brug.domain.actions import section_lines
from brug.domain.types import Language, Slug, Strict, Text


class Level(StrEnum):
    micro = "micro"
    meso = "meso"
    macro = "macro"


class Status(StrEnum):
    nieuw = "nieuw"
    besproken = "besproken"
    doorgegeven = "doorgegeven"
    antwoord = "antwoord"  # antwoord ontvangen
    afgesloten = "afgesloten"


OPEN = (Status.nieuw, Status.besproken, Status.doorgegeven, Status.antwoord)

STATUS_LABEL: dict[Language, dict[Status, str]] = {
    "nl": {
        Status.nieuw: "nieuw",
        Status.besproken: "besproken",
        Status.doorgegeven: "doorgegeven",
        Status.antwoord: "antwoord ontvangen",
        Status.afgesloten: "afgesloten",
    },
    "en": {
        Status.nieuw: "new",
        Status.besproken: "discussed",
        Status.doorgegeven: "passed on",
        Status.antwoord: "answer received",
        Status.afgesloten: "closed",
    },
}

# lengths people may type; longer is refused with a clear message (a chat message can be long)
MAX_TEXT = 500
MAX_RECIPIENT = 200
MAX_ANSWER = 1000
MAX_THEME = 60


# --- the catalogue (workflows/signals.yaml) ------------------------------------------------------------


class SignalTheme(Strict):
    id: Slug
    label: Text
    keywords: list[str] = Field(default_factory=list)


class SignalLevel(Strict):
    id: Level
    label: Text
    description: Text
    keywords: list[str] = Field(default_factory=list)


class SignalCatalogue(Strict):
    waiting_weeks: int = Field(ge=1, le=52)
    themes: list[SignalTheme] = Field(min_length=1)
    levels: list[SignalLevel] = Field(min_length=3, max_length=3)

    def find_theme(self, text: str) -> SignalTheme | None:
        """A theme by its id or its label in either language ('vrije-tijd', 'Wonen', 'housing')."""
        needle = _plain(text)
        for theme in self.themes:
            if needle in (_plain(theme.id), _plain(theme.label.nl), _plain(theme.label.en)):
                return theme
        return None

    def theme_label(self, theme: str, language: Language) -> str:
        """What people read for a stored theme: the label of a known one, free text as it was typed."""
        known = self.find_theme(theme)
        return known.label(language) if known else theme

    def level(self, level: Level) -> SignalLevel:
        return next(x for x in self.levels if x.id == level)

    def guess_theme(self, text: str) -> SignalTheme | None:
        """The theme whose keywords occur most in the text (a keyword may be the start of a word)."""
        return _best(text, [(t, t.keywords) for t in self.themes])

    def guess_level(self, text: str) -> Level | None:
        best = _best(text, [(x, x.keywords) for x in self.levels])
        return best.id if best else None


def _plain(text: str) -> str:
    return re.sub(r"[\s_-]+", " ", text.strip().lower())


def _best(text, candidates):  # type: ignore[no-untyped-def]
    lowered = " " + re.sub(r"\s+", " ", text.lower())
    scores = []
    for item, words in candidates:
        score = sum(1 for w in words if re.search(r"(?<![\w])" + re.escape(w.lower()), lowered))
        if score:
            scores.append((score, -len(scores), item))
    return max(scores, key=lambda s: (s[0], s[1]))[2] if scores else None


# --- what people type --------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewSignal:
    text: str
    theme: str | None  # a theme id or a free theme
    level: Level | None


class Verb(StrEnum):
    toon = "toon"  # show one signal
    besproken = "besproken"
    doorgegeven = "doorgegeven"
    antwoord = "antwoord"
    afgesloten = "afgesloten"
    thema = "thema"
    niveau = "niveau"
    vraag = "vraag"  # the question to policy


VERBS: dict[str, Verb] = {
    "besproken": Verb.besproken,
    "discussed": Verb.besproken,
    "doorgegeven": Verb.doorgegeven,
    "doorgestuurd": Verb.doorgegeven,
    "forwarded": Verb.doorgegeven,
    "passed": Verb.doorgegeven,
    "antwoord": Verb.antwoord,
    "answer": Verb.antwoord,
    "afgesloten": Verb.afgesloten,
    "afsluiten": Verb.afgesloten,
    "closed": Verb.afgesloten,
    "close": Verb.afgesloten,
    "thema": Verb.thema,
    "theme": Verb.thema,
    "niveau": Verb.niveau,
    "level": Verb.niveau,
    "vraag": Verb.vraag,
    "question": Verb.vraag,
}
_LEADING = {Verb.doorgegeven: ("aan", "to", "on to", "on"), Verb.antwoord: (":",), Verb.vraag: (":",)}


@dataclass(frozen=True)
class SignalUpdate:
    number: int
    verb: Verb
    value: str = ""


_NUMBER = re.compile(r"^#?(\d{1,6})$")
_TAG = re.compile(r"(?<!\S)#([^\s#]+)")


def parse_signal_args(args: str, catalogue: SignalCatalogue) -> NewSignal | SignalUpdate | None:
    """What follows `!signaal`: a new signal with optional #thema and #niveau, or '<nr> <verb> …'.

    A text that starts with a number is a new signal unless a verb follows the number
    ("12 gezinnen vinden geen woning" is a signal, "12 besproken" an update). None when empty.
    """
    words = args.split()
    if not words:
        return None
    number = _NUMBER.match(words[0])
    if number:
        if len(words) == 1:
            return SignalUpdate(int(number[1]), Verb.toon)
        verb = VERBS.get(words[1].lower().rstrip(":"))
        if verb is not None:
            rest = args.split(None, 2)[2] if len(words) > 2 else ""
            return SignalUpdate(int(number[1]), verb, _strip_leading(verb, rest))
    return new_signal(args, catalogue, tags=True)


def _strip_leading(verb: Verb, value: str) -> str:
    value = value.strip()
    for lead in _LEADING.get(verb, ()):
        if value.lower().startswith(lead + " ") or (lead == ":" and value.startswith(":")):
            return value[len(lead) :].strip()
    return value


def new_signal(text: str, catalogue: SignalCatalogue, *, tags: bool) -> NewSignal | None:
    """A new signal from its text: hashtags pick the theme and the level (when `tags`)."""
    theme: str | None = None
    level: Level | None = None
    if tags:
        for tag in _TAG.findall(text):
            word = tag.strip(".,;:!?").lower()
            if word in Level.__members__:
                level = Level(word)
            elif word:
                found = catalogue.find_theme(word)
                theme = found.id if found else word.replace("-", " ").replace("_", " ")
        text = _TAG.sub("", text)
    text = " ".join(text.split())
    if not text:
        return None
    return NewSignal(text, theme, level)


def theme_value(text: str, catalogue: SignalCatalogue) -> str:
    """A theme as people type it: a known theme becomes its id, anything else stays free text."""
    text = " ".join(text.lstrip("#").split())
    found = catalogue.find_theme(text)
    return found.id if found else text


def level_value(text: str) -> Level | None:
    word = text.strip().lstrip("#").lower()
    return Level(word) if word in Level.__members__ else None


# --- lines in the minutes ('## Signalen') -------------------------------------------------------------

SIGNAL_SECTIONS = ("Signalen", "Signals")
_ITEM = re.compile(r"^\s*[-*+]\s+(?:\[(?P<mark>[ xX]?)\]\s*)?(?P<body>.*?)\s*$")
_SEPARATOR = re.compile(r"\s+[—–]\s+|\s+--?\s+")
_REF = re.compile(r"^(?:#|signaal\s+|signal\s+)(\d{1,6})\b[.:]?\s*(?P<rest>.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class MinutesLine:
    line_number: int
    item: NewSignal | SignalUpdate | None  # None: a list line brug cannot read


def read_signal_lines(markdown: str, catalogue: SignalCatalogue) -> list[MinutesLine]:
    """The list lines under a 'Signalen' heading.

    - `- wat je ziet — thema — niveau` is a new signal (theme and level may be left out);
    - `- #3 doorgegeven aan …` (any verb of `!signaal`) updates signal 3;
    - `- [x] #3 …` (a carried signal, ticked) means it was discussed; `- [ ] #3 …` changes nothing.
    Empty list lines are skipped; other list lines are returned with item None, never dropped.
    """
    out: list[MinutesLine] = []
    for number, line in section_lines(markdown, SIGNAL_SECTIONS):
        item = _ITEM.match(line)
        if not item or not item["body"] or item["body"] in ("…", "_…_", "..."):
            continue
        body, ticked = item["body"], (item["mark"] or "").lower() == "x"
        ref = _REF.match(body)
        if ref:
            words = ref["rest"].split()
            verb = VERBS.get(words[0].lower().rstrip(":")) if words else None
            if verb is not None:
                rest = ref["rest"].split(None, 1)[1] if len(words) > 1 else ""
                out.append(MinutesLine(number, SignalUpdate(int(ref[1]), verb, _strip_leading(verb, rest))))
            elif ticked:
                out.append(MinutesLine(number, SignalUpdate(int(ref[1]), Verb.besproken)))
            continue  # an unticked carried signal: nothing to do
        parts = [p.strip() for p in _SEPARATOR.split(body) if p.strip()]
        text, theme, level = parts[0] if parts else "", None, None
        for part in parts[1:]:
            if level is None and (lv := level_value(part)) is not None:
                level = lv
            elif theme is None and len(part) <= MAX_THEME:
                theme = theme_value(part, catalogue)
            else:
                text = f"{text} — {part}"
        signal = new_signal(text, catalogue, tags=True)
        if signal is not None:
            signal = NewSignal(signal.text, theme or signal.theme, level or signal.level)
        out.append(MinutesLine(number, signal))
    return out


# --- the signal and its status ---------------------------------------------------------------------


@dataclass(frozen=True)
class SignalEvent:
    """One step in a signal's life: raised, discussed, passed on (to whom), answered, closed."""

    status: Status
    note: str | None
    by: str
    at: datetime


@dataclass(frozen=True)
class SignalRecord:
    partnership: str
    number: int
    text: str
    theme: str
    level: Level | None
    status: Status
    raised_by: str
    organisation: str | None
    raised_at: datetime
    forwarded_to: str | None = None
    forwarded_at: datetime | None = None
    answer: str | None = None
    answered_at: datetime | None = None
    question: str | None = None
    events: tuple[SignalEvent, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status is not Status.afgesloten


@dataclass(frozen=True)
class Change:
    """What an update does to a signal: new field values and a step in its history (or a refusal)."""

    values: dict[str, object] = field(default_factory=dict)
    event: Status | None = None
    note: str | None = None
    problem: str | None = None  # 'closed', 'already', 'empty', 'too-long', 'level'


def change_for(signal: SignalRecord, update: SignalUpdate, now: datetime, catalogue: SignalCatalogue) -> Change:
    """The rules of the status: forward only, a closed signal stays closed, passing on again is fine."""
    verb, value = update.verb, update.value.strip()
    if signal.status is Status.afgesloten and verb is not Verb.toon:
        return Change(problem="closed")
    if verb is Verb.besproken:
        if signal.status is not Status.nieuw:
            return Change(problem="already")
        return Change({"status": Status.besproken}, Status.besproken)
    if verb is Verb.doorgegeven:
        if not value:
            return Change(problem="empty")
        if len(value) > MAX_RECIPIENT:
            return Change(problem="too-long")
        return Change(
            {"status": Status.doorgegeven, "forwarded_to": value, "forwarded_at": now}, Status.doorgegeven, value
        )
    if verb is Verb.antwoord:
        if not value:
            return Change(problem="empty")
        if len(value) > MAX_ANSWER:
            return Change(problem="too-long")
        return Change({"status": Status.antwoord, "answer": value, "answered_at": now}, Status.antwoord, value)
    if verb is Verb.afgesloten:
        return Change({"status": Status.afgesloten}, Status.afgesloten, value or None)
    if verb is Verb.thema:
        if not value:
            return Change(problem="empty")
        if len(value) > MAX_THEME:
            return Change(problem="too-long")
        return Change({"theme": theme_value(value, catalogue)})
    if verb is Verb.niveau:
        level = level_value(value)
        return Change({"level": level}) if level else Change(problem="level")
    if verb is Verb.vraag:
        if not value:
            return Change(problem="empty")
        if len(value) > MAX_TEXT:
            return Change(problem="too-long")
        return Change({"question": value})
    return Change()  # toon: nothing changes


def free_text_of(update: SignalUpdate) -> str:
    """The part of an update people wrote themselves, to be checked for case data before storing."""
    return update.value if update.verb in (Verb.doorgegeven, Verb.antwoord, Verb.afgesloten, Verb.vraag) else ""


def waiting(signals: list[SignalRecord], now: datetime, weeks: int) -> list[SignalRecord]:
    """Passed on, and no answer for longer than `weeks`."""
    limit = now - timedelta(weeks=weeks)
    return [
        s for s in signals if s.status is Status.doorgegeven and s.forwarded_at is not None and s.forwarded_at < limit
    ]


def by_status(signals: list[SignalRecord]) -> list[tuple[Status, list[SignalRecord]]]:
    """The log's order: every status in its turn, each signal under its current status."""
    return [(status, [s for s in signals if s.status is status]) for status in Status]


# --- the signalennota ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThemeReport:
    """One chapter of the signalennota: everything partners saw about one theme."""

    theme: str
    label: str
    signals: list[SignalRecord]
    organisations: list[str]
    partnerships: list[str]
    since: date
    last: date
    levels: dict[Level, int]
    done: list[tuple[SignalRecord, SignalEvent]]  # discussed, passed on, answered, closed
    questions: list[str]

    @property
    def count(self) -> int:
        return len(self.signals)


def nota_themes(
    signals: list[SignalRecord], catalogue: SignalCatalogue, language: Language, zone: tzinfo
) -> list[ThemeReport]:
    """The signals grouped by theme, the theme seen most often first."""
    groups: dict[str, list[SignalRecord]] = {}
    for s in sorted(signals, key=lambda s: (s.raised_at, s.partnership, s.number)):
        groups.setdefault(s.theme, []).append(s)
    reports = []
    for theme, items in groups.items():
        days = [s.raised_at.astimezone(zone).date() for s in items]
        done = [(s, e) for s in items for e in s.events if e.status is not Status.nieuw]
        reports.append(
            ThemeReport(
                theme=theme,
                label=catalogue.theme_label(theme, language),
                signals=items,
                organisations=sorted({s.organisation for s in items if s.organisation}),
                partnerships=sorted({s.partnership for s in items}),
                since=min(days),
                last=max(days),
                levels=dict(Counter(s.level for s in items if s.level is not None)),
                done=sorted(done, key=lambda pair: pair[1].at),
                questions=list(dict.fromkeys(s.question for s in items if s.question)),
            )
        )
    return sorted(reports, key=lambda r: (-r.count, r.label.lower()))
