"""Agendas for a partnership's meetings, from its phase model and what partners carried along."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import Any

from brug.app.agreements import review_for
from brug.app.commands import MAX_AGENDA_ITEM
from brug.app.signals import signal_views
from brug.content.context import Link, common_context, with_extra
from brug.content.library import Library
from brug.content.render import Renderer, Trusted
from brug.domain.agenda import (
    AddedItem,
    Agenda,
    Item,
    Missed,
    OpenAction,
    Overflow,
    Priority,
    TimeBox,
    Unreadable,
    build_agenda,
)
from brug.domain.partnership import Partnership
from brug.domain.recurrence import MAX_OCCURRENCES
from brug.domain.signals import Status, waiting
from brug.domain.types import Bouwsteen, Language, Text
from brug.store import Store


def _capped(text: str) -> str:
    """An agenda point as long as chat accepts today (points stored before the cap are shortened)."""
    return text if len(text) <= MAX_AGENDA_ITEM else text[: MAX_AGENDA_ITEM - 1] + "…"


def open_actions(store: Store, partnership_id: str) -> list[OpenAction]:
    out = []
    for a in store.actions(partnership_id, open_only=True):
        due = datetime.fromisoformat(a.due).date() if a.due else None
        out.append(OpenAction(number=a.number, text=a.text, who=a.who, due=due))
    return out


def latest_reflection_bouwsteen(store: Store, library: Library, partnership_id: str) -> Bouwsteen | None:
    """The bouwsteen of the most recent reflection prompt (its key ends in the question id)."""
    keys = store.post_keys(partnership_id, kind="reflection")
    for key in reversed(keys):
        question = next((q for q in library.questions if q.id == key.rsplit("/", 1)[-1]), None)
        if question is not None:
            return question.bouwsteen
    return None


def meeting_number(p: Partnership, start: datetime) -> int:
    """1 for the first meeting of the partnership, 2 for the next, …"""
    if p.meetings is None:
        return 1
    first = p.meetings.recurrence().local_times()
    local = start.astimezone(p.zone).replace(tzinfo=None)
    n = 0
    for moment in itertools.islice(first, MAX_OCCURRENCES):
        n += 1
        if moment >= local:
            return n
    return n + 1


def agenda_for(
    p: Partnership,
    start: datetime,
    store: Store,
    library: Library,
    missed: list[Missed] | None = None,
    unreadable: list[Unreadable] | None = None,
    extra: Iterable[Item] = (),
) -> Agenda:
    model = library.phase_models[p.workflow]
    added = [AddedItem(text=_capped(i.text), by=i.added_by, id=i.id) for i in store.open_agenda_items(p.id)]
    return build_agenda(
        p,
        model.phase(p.phase),
        start,
        meeting_number(p, start),
        open_actions(store, p.id),
        added,
        latest_reflection_bouwsteen(store, library, p.id),
        missed,
        unreadable,
        review_on=review_for(p, store, library),
        extra=[*signal_items(p, start, store, library), *extra],
    )


SIGNALS_NEW = Text(nl="Signalen: bespreken en bundelen", en="Signals: discuss and bundle")
SIGNALS_WAITING = Text(nl="Signalen die op antwoord wachten", en="Signals waiting for an answer")


def signal_items(p: Partnership, start: datetime, store: Store, library: Library) -> list[Item]:
    """New signals to discuss and bundle, and signals passed on that wait too long for an answer.

    Both come before the phase's own items when time is short, as the points partners added do: a
    signal left out stays open and comes back on the next agenda anyway."""
    signals = store.signals(p.id, open_only=True)
    new = [s for s in signals if s.status is Status.nieuw]
    late = waiting(signals, start, library.signals.waiting_weeks)
    items = []
    if new:
        views = tuple(signal_views(new, library, p.language, p.zone))
        minutes = 10 if len(new) <= 4 else 15
        data = {"signals": views}
        items.append(Item("signals-new", minutes, Priority.HIGH, Overflow.IF_TIME, SIGNALS_NEW, data=data))
    if late:
        views = tuple(signal_views(late, library, p.language, p.zone))
        items.append(
            Item(
                "signals-waiting",
                5,
                Priority.HIGH,
                Overflow.IF_TIME,
                SIGNALS_WAITING,
                stretch=False,
                data={"signals": views, "weeks": library.signals.waiting_weeks},
            )
        )
    return items


def _words(value: Text | str | None, language: Language) -> str | None:
    """The product's own words are trusted Markdown; what a person typed stays a plain string (escaped)."""
    if isinstance(value, Text):
        return Trusted(value(language))
    return value


def _entry(item: Item, language: Language, zone: tzinfo, box: TimeBox | None = None) -> dict[str, Any]:
    return {
        "kind": item.kind,
        "title": _words(item.title, language),
        "note": _words(item.note, language),
        "minutes": box.minutes if box else item.minutes,
        "start": box.start.astimezone(zone) if box else None,
        "end": box.end.astimezone(zone) if box else None,
        **item.data,
    }


def agenda_context(agenda: Agenda, p: Partnership, library: Library, now: datetime) -> dict[str, Any]:
    """The variables of the agenda template (see docs/templates.md)."""
    context = common_context(p, library, now, links=[])
    meeting = agenda.meeting
    schedule = agenda.schedule
    language, zone = p.language, p.zone
    return with_extra(
        context,
        meeting={
            "start": meeting.start.astimezone(zone),
            "end": meeting.end.astimezone(zone),
            "location": meeting.location,
            "number": meeting.number,
            "minutes": int((meeting.end - meeting.start).total_seconds() // 60),
        },
        boxes=[_entry(b.item, language, zone, b) for b in schedule.boxes],
        if_time=[_entry(i, language, zone) for i in schedule.if_time],
        next_meeting=[_entry(i, language, zone) for i in schedule.next_meeting],
        open_actions=[vars(a) for a in agenda.open_actions],
        reflection_bouwsteen=library.bouwstenen.get(agenda.reflection_bouwsteen)
        if agenda.reflection_bouwsteen
        else None,
        missed=[{"what": m.what, "when": m.when.astimezone(zone)} for m in agenda.missed],
        unreadable=[vars(u) for u in agenda.unreadable],
    )


def render_agenda(
    agenda: Agenda,
    p: Partnership,
    library: Library,
    renderer: Renderer,
    now: datetime,
    *,
    for_chat: bool = False,
    document: Link | None = None,
) -> str:
    """The agenda document (agenda and an empty minutes part), or with `for_chat` the agenda alone for a
    chat message, pointing to `document`, where the minutes are written."""
    context = with_extra(agenda_context(agenda, p, library, now), for_chat=for_chat, document=document)
    return renderer.render("agenda", p.language, **context)
