"""What goes on the agenda of a meeting, and how it fits the meeting's time.

An agenda is a list of `Item`s, each with a kind, a duration and a priority. `fit_to_meeting` (the
time-boxing) turns them into time boxes that add up exactly to the meeting's duration:

- items are chosen by priority (then in agenda order) while they fit; the chosen ones keep their
  agenda order and get a start time;
- an item that does not fit is either kept for "if time allows" (most items) or moved to the next
  meeting (points partners added: they stay open and come back on the next agenda);
- minutes left over are shared out over the items that may stretch, so the boxes end exactly when
  the meeting ends.

A feature that wants a point on the agenda (a barometer, an agreement renewal, signals, …) adds an
`Item` with its own kind, priority and minutes to `build_agenda(extra=…)`; the time-boxing places it.
Give it a `title` (and a `note`) as `Text` and the agenda template shows it without further changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import Enum, IntEnum
from types import MappingProxyType
from typing import Any

from brug.domain.partnership import Partnership
from brug.domain.types import Bouwsteen, Text
from brug.domain.workflow import AgendaItem, Phase

REVIEW_WINDOW = timedelta(weeks=4)  # put the agreement on the agenda this long before its review date
DEFAULT_MEETING = timedelta(minutes=90)
PHASE_ITEM_MINUTES = 10  # a phase agenda item without its own minutes
ADDED_FIRST = 3  # this many points partners added go before the phase's own items; the rest after


class Priority(IntEnum):
    """How much an item needs a place: lower goes first when time is short."""

    FIXED = 0  # always on the agenda (opening, closing)
    HIGH = 1
    NORMAL = 2
    LOW = 3


class Overflow(Enum):
    """What happens to an item that does not fit."""

    IF_TIME = "if_time"  # listed after the time boxes: "if time allows"
    NEXT_MEETING = "next_meeting"  # not on this agenda; it comes back on the next one


@dataclass(frozen=True)
class Item:
    """One point of an agenda, before it gets its time box.

    `title`/`note` are `Text` for the product's own words, `str` for what a person typed, or None to
    let the template name the kind. `data` carries what the template needs for this kind.
    """

    kind: str
    minutes: int
    priority: Priority = Priority.NORMAL
    overflow: Overflow = Overflow.IF_TIME
    title: Text | str | None = None
    note: Text | str | None = None
    stretch: bool = True  # may get a share of the minutes left over (fixed items only when nothing else can)
    data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if self.minutes < 1:
            raise ValueError(f"an agenda item needs at least one minute, not {self.minutes}")


@dataclass(frozen=True)
class TimeBox:
    item: Item
    start: datetime
    minutes: int

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes)


@dataclass(frozen=True)
class Schedule:
    """An agenda fitted to its meeting: the time boxes, and what did not fit."""

    boxes: list[TimeBox]
    if_time: list[Item]
    next_meeting: list[Item]

    @property
    def minutes(self) -> int:
        return sum(b.minutes for b in self.boxes)


def fit_to_meeting(items: Sequence[Item], start: datetime, duration: timedelta) -> Schedule:
    """Time boxes for `items` that add up to `duration` exactly (see the module's docstring).

    Pure and deterministic: the same items always give the same schedule. Times are real elapsed
    time from `start` (aware), so a meeting across a daylight-saving change still ends on time.
    """
    total = int(duration.total_seconds() // 60)
    if total < 1:
        raise ValueError("a meeting needs at least one minute")
    fixed = [i for i, item in enumerate(items) if item.priority is Priority.FIXED]
    minutes = {i: items[i].minutes for i in fixed}
    if sum(minutes.values()) > total:  # a very short meeting: the fixed items share it
        minutes = dict(zip(fixed, _share(total, [items[i].minutes for i in fixed], floor=1), strict=True))
    budget = total - sum(minutes.values())
    left_out: list[int] = []
    for i in sorted((i for i in range(len(items)) if i not in minutes), key=lambda i: (items[i].priority, i)):
        if items[i].minutes <= budget:
            minutes[i] = items[i].minutes
            budget -= items[i].minutes
        else:
            left_out.append(i)
    chosen = sorted(minutes)
    if budget > 0:
        movable = [i for i in chosen if items[i].priority is not Priority.FIXED]
        stretchy = [i for i in movable if items[i].stretch] or movable or chosen
        unit = 5 if total % 5 == 0 and all(minutes[i] % 5 == 0 for i in chosen) and budget % 5 == 0 else 1
        extra = _share(budget // unit, [minutes[i] for i in stretchy])
        for i, more in zip(stretchy, extra, strict=True):
            minutes[i] += more * unit
    boxes = []
    at = start
    for i in chosen:
        boxes.append(TimeBox(items[i], at, minutes[i]))
        at += timedelta(minutes=minutes[i])
    left_out.sort()
    return Schedule(
        boxes,
        if_time=[items[i] for i in left_out if items[i].overflow is Overflow.IF_TIME],
        next_meeting=[items[i] for i in left_out if items[i].overflow is Overflow.NEXT_MEETING],
    )


def _share(amount: int, weights: Sequence[int], floor: int = 0) -> list[int]:
    """Split `amount` in whole parts in proportion to `weights` (largest remainder), each ≥ `floor`."""
    if not weights:
        return []
    rest = amount - floor * len(weights)
    if rest < 0:
        raise ValueError("not enough to give every part its floor")
    if sum(weights) <= 0:
        weights = [1] * len(weights)
    raw = [rest * w / sum(weights) for w in weights]
    parts = [int(r) for r in raw]
    by_remainder = sorted(range(len(raw)), key=lambda i: (-(raw[i] - parts[i]), i))
    for i in by_remainder[: rest - sum(parts)]:
        parts[i] += 1
    return [floor + p for p in parts]


@dataclass(frozen=True)
class OpenAction:
    number: int
    text: str
    who: str | None
    due: date | None


@dataclass(frozen=True)
class AddedItem:
    text: str
    by: str
    id: int | None = None  # the store's id, to mark it treated


@dataclass(frozen=True)
class Missed:
    """A post brug skipped because it was down too long; named in the next agenda."""

    what: str
    when: datetime


@dataclass(frozen=True)
class Unreadable:
    """A line in earlier minutes that brug could not take over: an action or signal line it could not
    read, or (section "case") a signal that looked like a personal case, whose text is never repeated."""

    document: str
    line_number: int
    text: str
    section: str = "actions"  # actions | signals | case


@dataclass(frozen=True)
class Meeting:
    start: datetime
    end: datetime
    location: str | None
    number: int


@dataclass(frozen=True)
class Agenda:
    meeting: Meeting
    phase: Phase
    items: list[AgendaItem]
    open_actions: list[OpenAction] = field(default_factory=list)
    added_items: list[AddedItem] = field(default_factory=list)
    review_due: bool = False
    reflection_bouwsteen: Bouwsteen | None = None
    missed: list[Missed] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    schedule: Schedule = field(default_factory=lambda: Schedule([], [], []))

    @property
    def taken_added_items(self) -> list[AddedItem]:
        """The points partners added that this agenda treats (the others move to the next meeting)."""
        placed = [b.item for b in self.schedule.boxes] + self.schedule.if_time
        return [i.data["added"] for i in placed if i.kind == "added"]


def review_due(review: date | None, meeting_day: date) -> bool:
    """The meeting falls in the four weeks before the agreement's review date (or the four after it)."""
    return review is not None and review - REVIEW_WINDOW <= meeting_day <= review + REVIEW_WINDOW


PHASE_PRIORITY = {"high": Priority.HIGH, "normal": Priority.NORMAL, "low": Priority.LOW}
OPENING_WORDS = ("welkom", "voorstelronde", "welcome", "introductions")


def opens_the_meeting(item: AgendaItem) -> bool:
    """A phase item that already is a welcome or a round of introductions replaces brug's own welcome."""
    return any(item.title(lang).lower().startswith(OPENING_WORDS) for lang in ("nl", "en"))


def agenda_items(
    phase: Phase,
    open_actions: Sequence[OpenAction],
    added_items: Sequence[AddedItem],
    review: date | None,
    reflection_bouwsteen: Bouwsteen | None,
    missed: Sequence[Missed],
    unreadable: Sequence[Unreadable],
    extra: Iterable[Item] = (),
) -> list[Item]:
    """The agenda's items in meeting order, with their minutes and priorities."""
    items: list[Item] = []
    phase_items = list(phase.agenda)
    if phase_items and opens_the_meeting(phase_items[0]):
        first = phase_items.pop(0)
        items.append(Item("welcome", first.minutes or 10, Priority.FIXED, title=first.title, note=first.note, stretch=False))
    else:
        items.append(Item("welcome", 10, Priority.FIXED, stretch=False))
    if missed:
        items.append(Item("missed", 5, Priority.HIGH, stretch=False, data={"missed": tuple(missed)}))
    for a in phase_items:
        items.append(Item("phase", a.minutes or PHASE_ITEM_MINUTES, PHASE_PRIORITY[a.priority], title=a.title, note=a.note))
    actions = 5 if not open_actions else 10 if len(open_actions) <= 6 else 15
    items.append(Item("actions", actions, Priority.HIGH, stretch=False, data={"open_actions": tuple(open_actions)}))
    if unreadable:
        items.append(Item("unreadable", 5, Priority.HIGH, stretch=False, data={"unreadable": tuple(unreadable)}))
    for n, added in enumerate(added_items):  # the oldest points first; more than a few wait their turn
        priority = Priority.HIGH if n < ADDED_FIRST else Priority.NORMAL
        items.append(Item("added", 10, priority, Overflow.NEXT_MEETING, title=added.text, data={"added": added}))
    if review is not None:  # evaluate and renew the agreement, against what the current phase asks
        items.append(Item("review", 20, Priority.HIGH, data={"review_on": review, "criteria": phase.exit_criteria}))
    if reflection_bouwsteen is not None:
        items.append(Item("reflection", 10, Priority.LOW, data={"bouwsteen": reflection_bouwsteen}))
    items.extend(extra)
    items.append(Item("close", 5, Priority.FIXED, stretch=False))
    return items


def build_agenda(
    p: Partnership,
    phase: Phase,
    start: datetime,
    number: int,
    open_actions: list[OpenAction],
    added_items: list[AddedItem],
    reflection_bouwsteen: Bouwsteen | None = None,
    missed: list[Missed] | None = None,
    unreadable: list[Unreadable] | None = None,
    extra: Iterable[Item] = (),
    review_on: date | None = None,
) -> Agenda:
    """`review_on`: the agreement's review date (the file's, or one (school) year after signing)."""
    # A real moment: on a daylight-saving night, 02:30 + 90 minutes on the wall clock is not 90 minutes.
    start = start.astimezone(UTC)
    duration = p.meetings.duration if p.meetings else DEFAULT_MEETING
    location = p.meetings.location if p.meetings else None
    local_day = start.astimezone(p.zone).date()
    review_on = review_on or p.agreement.review
    review = review_due(review_on, local_day)
    items = agenda_items(
        phase,
        open_actions,
        added_items,
        review_on if review else None,
        reflection_bouwsteen,
        missed or [],
        unreadable or [],
        extra,
    )
    return Agenda(
        meeting=Meeting(start=start, end=start + duration, location=location, number=number),
        phase=phase,
        items=list(phase.agenda),
        open_actions=open_actions,
        added_items=added_items,
        review_due=review,
        reflection_bouwsteen=reflection_bouwsteen,
        missed=missed or [],
        unreadable=unreadable or [],
        schedule=fit_to_meeting(items, start, duration),
    )
