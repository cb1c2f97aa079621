"""What goes on the agenda of a meeting: the phase's own items, then what the partners carry along."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from brug.domain.partnership import Partnership
from brug.domain.types import Bouwsteen
from brug.domain.workflow import AgendaItem, Phase

REVIEW_WINDOW = timedelta(days=45)  # put the agreement on the agenda this long before its review date


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


@dataclass(frozen=True)
class Missed:
    """A post brug skipped because it was down too long; named in the next agenda."""

    what: str
    when: datetime


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


def review_due(p: Partnership, meeting_day: date) -> bool:
    """The agreement's review date falls before the meeting after this one (or has passed)."""
    review = p.agreement.review
    return review is not None and meeting_day >= review - REVIEW_WINDOW


def build_agenda(
    p: Partnership,
    phase: Phase,
    start: datetime,
    number: int,
    open_actions: list[OpenAction],
    added_items: list[AddedItem],
    reflection_bouwsteen: Bouwsteen | None = None,
    missed: list[Missed] | None = None,
) -> Agenda:
    duration = p.meetings.duration if p.meetings else timedelta(minutes=90)
    location = p.meetings.location if p.meetings else None
    local_day = start.astimezone(p.zone).date()
    return Agenda(
        meeting=Meeting(start=start, end=start + duration, location=location, number=number),
        phase=phase,
        items=list(phase.agenda),
        open_actions=open_actions,
        added_items=added_items,
        review_due=review_due(p, local_day),
        reflection_bouwsteen=reflection_bouwsteen,
        missed=missed or [],
    )
