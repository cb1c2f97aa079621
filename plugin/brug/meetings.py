"""Agendas for a partnership's meetings, from its phase model and what partners carried along."""

from __future__ import annotations

from datetime import datetime

from brug.content.context import common_context, with_extra
from brug.content.library import Library
from brug.content.render import Renderer
from brug.domain.agenda import AddedItem, Agenda, Missed, OpenAction, build_agenda
from brug.domain.partnership import Partnership
from brug.domain.types import Bouwsteen
from brug.store import Store


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
    for moment in first:
        n += 1
        if moment >= local:
            return n
    return n + 1


def agenda_for(
    p: Partnership, start: datetime, store: Store, library: Library, missed: list[Missed] | None = None
) -> Agenda:
    model = library.phase_models[p.workflow]
    added = [AddedItem(text=i.text, by=i.added_by) for i in store.open_agenda_items(p.id)]
    return build_agenda(
        p,
        model.phase(p.phase),
        start,
        meeting_number(p, start),
        open_actions(store, p.id),
        added,
        latest_reflection_bouwsteen(store, library, p.id),
        missed,
    )


def render_agenda(
    agenda: Agenda,
    p: Partnership,
    library: Library,
    renderer: Renderer,
    now: datetime,
    unreadable: list[dict[str, object]] | None = None,
) -> str:
    context = common_context(p, library, now, links=[])
    meeting = agenda.meeting
    return renderer.render(
        "agenda",
        p.language,
        **with_extra(
            context,
            meeting={
                "start": meeting.start.astimezone(p.zone),
                "end": meeting.end.astimezone(p.zone),
                "location": meeting.location,
                "number": meeting.number,
            },
            items=agenda.items,
            open_actions=[vars(a) for a in agenda.open_actions],
            added_items=[vars(i) for i in agenda.added_items],
            review_due=agenda.review_due,
            reflection_bouwsteen=library.bouwstenen.get(agenda.reflection_bouwsteen)
            if agenda.reflection_bouwsteen
            else None,
            missed=[{"what": m.what, "when": m.when.astimezone(p.zone)} for m in agenda.missed],
            unreadable=unreadable or [],
        ),
    )
