"""Agendas fit their meeting: time boxes that add up to its duration, the rest 'if time allows' or moved on."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brug.app.meetings import agenda_context
from brug.content.partnerships import load_partnership
from brug.domain.agenda import (
    AddedItem,
    Item,
    Missed,
    OpenAction,
    Overflow,
    Priority,
    Unreadable,
    build_agenda,
    fit_to_meeting,
)
from brug.domain.types import Text
from tests.conftest import EXAMPLES
from tests.test_schedule import BRUSSELS, Clock, make_bot

START = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
BOX = re.compile(r"^\d+\. \*\*.+\*\* \((\d\d:\d\d)–(\d\d:\d\d), (\d+) min\)", re.MULTILINE)


def items_strategy() -> st.SearchStrategy[list[Item]]:
    middle = st.builds(
        Item,
        kind=st.sampled_from(["phase", "added", "review", "barometer"]),
        minutes=st.integers(1, 120),
        priority=st.sampled_from([Priority.HIGH, Priority.NORMAL, Priority.LOW]),
        overflow=st.sampled_from(list(Overflow)),
        stretch=st.booleans(),
    )
    return st.tuples(st.integers(1, 30), st.lists(middle, max_size=25), st.integers(1, 30)).map(
        lambda t: [Item("welcome", t[0], Priority.FIXED), *t[1], Item("close", t[2], Priority.FIXED)]
    )


@settings(max_examples=300, deadline=None)
@given(items=items_strategy(), minutes=st.integers(15, 600))
def test_time_boxes_always_add_up_to_the_meeting(items: list[Item], minutes: int) -> None:
    schedule = fit_to_meeting(items, START, timedelta(minutes=minutes))
    assert schedule.minutes == minutes
    boxes = schedule.boxes
    assert boxes[0].start == START and boxes[-1].end == START + timedelta(minutes=minutes)
    assert all(a.end == b.start for a, b in zip(boxes, boxes[1:], strict=False))  # no gaps, no overlap
    assert all(b.minutes >= 1 for b in boxes)
    # every item is placed exactly once: in a box, for 'if time allows', or for the next meeting
    placed = [b.item for b in boxes] + schedule.if_time + schedule.next_meeting
    assert sorted(map(id, placed)) == sorted(map(id, items))
    assert boxes[0].item.kind == "welcome" and boxes[-1].item.kind == "close"  # fixed items always stay
    order = {id(item): n for n, item in enumerate(items)}
    assert [order[id(b.item)] for b in boxes] == sorted(order[id(b.item)] for b in boxes)  # agenda order kept
    # an item is only left out when it really did not fit in what was left
    chosen = sum(b.item.minutes for b in boxes if b.item.priority is not Priority.FIXED)
    fixed = sum(b.minutes for b in boxes if b.item.priority is Priority.FIXED)
    for left in schedule.if_time + schedule.next_meeting:
        assert left.minutes > minutes - fixed - chosen


def test_higher_priority_is_placed_first_and_added_points_move_to_the_next_meeting() -> None:
    items = [
        Item("welcome", 10, Priority.FIXED),
        Item("phase", 40, Priority.NORMAL, title="A"),
        Item("phase", 30, Priority.LOW, title="B"),
        Item("added", 25, Priority.HIGH, Overflow.NEXT_MEETING, title="C"),
        Item("added", 25, Priority.HIGH, Overflow.NEXT_MEETING, title="D"),
        Item("close", 5, Priority.FIXED),
    ]
    schedule = fit_to_meeting(items, START, timedelta(minutes=60))
    assert [b.item.title for b in schedule.boxes] == [None, "C", None]
    assert [b.minutes for b in schedule.boxes] == [10, 45, 5]  # the 20 minutes left go to the stretchable item
    assert [i.title for i in schedule.if_time] == ["A", "B"]
    assert [i.title for i in schedule.next_meeting] == ["D"]


def test_a_meeting_shorter_than_its_fixed_items_shares_the_time() -> None:
    items = [Item("welcome", 15, Priority.FIXED), Item("phase", 10), Item("close", 10, Priority.FIXED)]
    schedule = fit_to_meeting(items, START, timedelta(minutes=15))
    assert [b.minutes for b in schedule.boxes] == [9, 6] and schedule.if_time[0].kind == "phase"


def test_time_boxes_are_real_time_across_a_daylight_saving_night() -> None:
    start = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST; at 03:00 CEST clocks go back to 02:00
    items = [Item("welcome", 30, Priority.FIXED), Item("phase", 30), Item("close", 30, Priority.FIXED)]
    boxes = fit_to_meeting(items, start, timedelta(minutes=90)).boxes
    local = [(b.start.astimezone(BRUSSELS).strftime("%H:%M"), b.end.astimezone(BRUSSELS).strftime("%H:%M")) for b in boxes]
    assert local == [("02:30", "02:00"), ("02:00", "02:30"), ("02:30", "03:00")]


def _rendered(library, renderer, p, agenda):  # type: ignore[no-untyped-def]
    return renderer.render("agenda", p.language, **agenda_context(agenda, p, library, START))


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_phase_agenda_of_every_example_fits_its_meeting(library, renderer, path: Path, language: str) -> None:  # type: ignore[no-untyped-def]
    p, problems = load_partnership(path, library)
    assert p is not None, problems
    p = p.model_copy(update={"language": language})
    start = p.meeting_times(START, 1)[0]
    duration = p.meetings.duration_minutes if p.meetings else 90
    actions = [OpenAction(n, f"Actie {n}", "An", None) for n in range(1, 9)]
    added = [AddedItem(f"Punt {n}", "Bert", n) for n in range(1, 4)]
    missed = [Missed("reflectievraag", START)]
    unreadable = [Unreadable("overleg/x.md", 3, "iets")]
    for phase in library.phase_models[p.workflow].phases:
        agenda = build_agenda(p, phase, start, 2, actions, added, "doel", missed, unreadable)
        text = _rendered(library, renderer, p, agenda)
        boxes = BOX.findall(text.split("## Verslag" if language == "nl" else "## Minutes")[0])
        assert sum(int(m) for _, _, m in boxes) == duration, (phase.id, text)
        assert boxes[0][0] == start.astimezone(p.zone).strftime("%H:%M")
        assert boxes[-1][1] == (start + timedelta(minutes=duration)).astimezone(p.zone).strftime("%H:%M")
        said = f"de {duration} minuten van dit overleg" if language == "nl" else f"the {duration} minutes of this meeting"
        assert said in text
        if agenda.schedule.if_time:
            assert ("Als er tijd over is" if language == "nl" else "If time allows") in text
        for item in agenda.schedule.next_meeting:
            assert f"- {item.title} — " in text.split("## Verslag")[0]


def test_an_item_a_feature_adds_is_placed_and_shown_without_template_changes(library, renderer) -> None:  # type: ignore[no-untyped-def]
    p, _ = load_partnership(EXAMPLES[0], library)
    assert p is not None
    phase = library.phase_models[p.workflow].phase(p.phase)
    barometer = Item(
        "barometer",
        15,
        Priority.HIGH,
        title=Text(nl="Barometer van de samenwerking", en="Partnership barometer"),
        note=Text(nl="Bekijk samen de scores.", en="Look at the scores together."),
    )
    agenda = build_agenda(p, phase, START, 3, [], [], extra=[barometer])
    assert "barometer" in [b.item.kind for b in agenda.schedule.boxes]
    text = _rendered(library, renderer, p, agenda)
    assert re.search(r"\*\*Barometer van de samenwerking\*\* \(\d\d:\d\d–\d\d:\d\d, \d+ min\)", text)
    assert "    Bekijk samen de scores." in text


async def test_points_that_do_not_fit_stay_open_for_the_next_meeting(tmp_path: Path, library) -> None:  # type: ignore[no-untyped-def]
    from tests.test_schedule import live_through, transcript

    clock = Clock(datetime(2026, 9, 1, 0, 0, tzinfo=BRUSSELS))
    bot = make_bot(tmp_path, library, clock)
    for n in range(12):  # 120 minutes of points for a 90-minute meeting
        bot.rt.store.add_agenda_item("jaar", f"Punt {n}", "An", f"origin-{n}")
    await live_through(bot, clock, datetime(2026, 9, 9, tzinfo=BRUSSELS))
    first = transcript(tmp_path, "overleg")[0]["markdown"]
    left = [i.text for i in bot.rt.store.open_agenda_items("jaar")]
    assert left and all(f"- {t} — aangebracht door An" in first for t in left)
    assert {"Punt 0", "Punt 1", "Punt 2"}.isdisjoint(left)  # the first ones were treated, before the phase's items
    await live_through(bot, clock, datetime(2026, 10, 11, tzinfo=BRUSSELS))
    second = transcript(tmp_path, "overleg")[1]["markdown"]
    assert all(f"**{t}** (" in second for t in left[:3])  # the oldest come back first, with a time box
    still = [i.text for i in bot.rt.store.open_agenda_items("jaar")]
    assert still == [t for t in left if t in still] and not set(left[:3]) & set(still)  # first in, first out
