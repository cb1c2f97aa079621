"""A partnership's year with a fake clock: agendas and prompts exactly once, on local time, after downtime.

The tests that lean on the store (slots, marks, actions, pauses) run on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from brug.app.bot import Bot
from brug.app.scheduler import AGENDA, REFLECTION, agenda_slots, overdue_agendas
from brug.domain.holidays import load_school_calendar
from brug.domain.recurrence import Recurrence
from tests.runtime import local_runtime

BRUSSELS = ZoneInfo("Europe/Brussels")

PARTNERSHIP = """\
id: jaar
name: Een jaar samen
workflow: samenwerken
phase: leerkansen
organisations:
  - id: school
    name: Basisschool De Linde
    kind: basisschool
    members: [{name: An Peeters, role: Zorgcoördinator, coordinator: true}]
  - id: ocmw
    name: OCMW Rivierstad
    kind: ocmw
    members: [{name: Bert Claes, role: Maatschappelijk werker}]
meetings:
  start: "2026-09-08 14:00"
  rrule: "FREQ=MONTHLY;BYDAY=+2TU"
  agenda_lead_days: 3
reflection:
  start: "2026-09-07 10:00"
  rrule: "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO"
  skip_school_holidays: {skip}
"""


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def make_bot(tmp_path: Path, library, clock: Clock, skip: bool = False, state: str | None = None) -> Bot:  # type: ignore[no-untyped-def]
    folder = tmp_path / "partnerschappen"
    folder.mkdir(exist_ok=True)
    (folder / "jaar.yaml").write_text(PARTNERSHIP.replace("{skip}", "true" if skip else "false"), encoding="utf-8")
    rt = local_runtime(tmp_path, library, clock, state)
    bot = Bot(rt, [folder])
    assert bot.load() == []
    return bot


def transcript(tmp_path: Path, room: str) -> list[dict]:  # type: ignore[type-arg]
    path = tmp_path / "ws" / "jaar" / "chat" / f"{room}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


async def live_through(bot: Bot, clock: Clock, until: datetime, calendar=None) -> None:  # type: ignore[no-untyped-def]
    """Jump from slot to slot, as a running brug would wake up for each."""
    scheduler = bot.scheduler(calendar)
    await scheduler.tick()  # the first tick only marks where the schedule starts
    while True:
        nxt = scheduler.next_due(clock.now, horizon=timedelta(days=60))
        if nxt is None or nxt > until:
            break
        clock.now = nxt
        await scheduler.tick()


async def test_a_year_in_seconds(tmp_path: Path, library, state_url: str) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(datetime(2026, 9, 1, 0, 0, tzinfo=BRUSSELS))
    bot = make_bot(tmp_path, library, clock, state=state_url)
    await live_through(bot, clock, datetime(2027, 9, 1, 0, 0, tzinfo=BRUSSELS))
    agendas = [e for e in transcript(tmp_path, "overleg") if e["kind"] == "agenda"]
    prompts = [e for e in transcript(tmp_path, "reflectie") if e["kind"] == "reflection"]
    assert len(agendas) == 12  # one before each second Tuesday, September to August
    assert len(prompts) == 26  # every other Monday for a year
    assert len({e["key"] for e in agendas + prompts}) == 38  # nothing twice
    # every agenda went out three days before its meeting at 14:00 local time, summer and winter time alike
    local = [datetime.fromisoformat(e["at"]).astimezone(BRUSSELS) for e in agendas]
    assert {(t.hour, t.minute) for t in local} == {(14, 0)}
    assert {t.utcoffset() for t in local} == {timedelta(hours=1), timedelta(hours=2)}
    assert [t.date() for t in local][:3] == [date(2026, 9, 5), date(2026, 10, 10), date(2026, 11, 7)]
    assert {datetime.fromisoformat(e["at"]).astimezone(BRUSSELS).hour for e in prompts} == {10}
    # and each agenda became its own document in the meetings folder
    documents = sorted((tmp_path / "ws" / "jaar" / "overleg").glob("*agenda en verslag.md"))
    assert len(documents) == 12 and documents[0].name == "2026-09-08 agenda en verslag.md"
    statuses = {s.status for s in bot.rt.store.slots("jaar")}
    assert statuses == {"done"}


async def test_none_in_school_holidays_when_skipping(tmp_path: Path, library) -> None:  # type: ignore[no-untyped-def]
    calendar = load_school_calendar()
    clock = Clock(datetime(2026, 9, 1, 0, 0, tzinfo=BRUSSELS))
    bot = make_bot(tmp_path, library, clock, skip=True)
    await live_through(bot, clock, datetime(2027, 9, 1, 0, 0, tzinfo=BRUSSELS), calendar)
    prompts = [e for e in transcript(tmp_path, "reflectie") if e["kind"] == "reflection"]
    days = [datetime.fromisoformat(e["at"]).astimezone(BRUSSELS).date() for e in prompts]
    assert days and not any(calendar.is_holiday(d) for d in days)
    every_other_monday = Recurrence("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO", datetime(2026, 9, 7, 10, 0))
    all_slots = every_other_monday.between(datetime(2026, 9, 1, tzinfo=UTC), datetime(2027, 9, 1, tzinfo=UTC), BRUSSELS)
    in_holidays = [s for s in all_slots if calendar.is_holiday(s.date())]
    assert in_holidays and len(days) == len(all_slots) - len(in_holidays)


def test_a_rule_keeps_its_local_time_across_both_daylight_saving_changes() -> None:
    weekly = Recurrence("FREQ=WEEKLY;BYDAY=MO", datetime(2026, 10, 19, 10, 0))
    october = weekly.between(datetime(2026, 10, 18, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC), BRUSSELS)
    assert [m.isoformat() for m in october] == ["2026-10-19T10:00:00+02:00", "2026-10-26T10:00:00+01:00"]
    march = weekly.between(datetime(2027, 3, 21, tzinfo=UTC), datetime(2027, 4, 1, tzinfo=UTC), BRUSSELS)
    assert [m.isoformat() for m in march] == ["2027-03-22T10:00:00+01:00", "2027-03-29T10:00:00+02:00"]
    # a meeting on the night of the change itself still lands on its wall-clock time
    night = Recurrence(None, None, (datetime(2026, 10, 25, 2, 30),)).after(
        datetime(2026, 10, 24, tzinfo=UTC), BRUSSELS, 1
    )
    assert night[0].hour == 2 and night[0].minute == 30


async def test_a_two_hour_outage_is_caught_up_with_a_note(tmp_path: Path, library, state_url: str) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(datetime(2026, 9, 6, 12, 0, tzinfo=BRUSSELS))
    bot = make_bot(tmp_path, library, clock, state=state_url)
    scheduler = bot.scheduler()
    await scheduler.tick()
    clock.now = datetime(2026, 9, 7, 12, 0, tzinfo=BRUSSELS)  # brug was down from 9:00 to 12:00; prompt at 10:00
    report = await scheduler.tick()
    assert [s.kind for s in report.late] == [REFLECTION] and report.skipped == []
    prompts = transcript(tmp_path, "reflectie")
    assert [e["kind"] for e in prompts] == ["reflection", "pulse"]
    assert "later" in prompts[0]["markdown"].lower()  # the prompt says it comes late
    assert (await scheduler.tick()).late == []  # and nothing happens twice


async def test_a_three_day_outage_is_skipped_logged_and_named_in_the_next_agenda(
    tmp_path: Path, library, caplog, state_url: str
) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(datetime(2026, 9, 20, 12, 0, tzinfo=BRUSSELS))
    bot = make_bot(tmp_path, library, clock, state=state_url)
    scheduler = bot.scheduler()
    await scheduler.tick()
    clock.now = datetime(2026, 9, 24, 12, 0, tzinfo=BRUSSELS)  # down over the prompt of Monday 21 September
    with caplog.at_level(logging.WARNING, logger="brug.app.scheduler"):
        report = await scheduler.tick()
    assert [s.kind for s in report.skipped] == [REFLECTION] and report.done == report.late == []
    assert "skipped" in caplog.text and "3.1 days" in caplog.text
    assert transcript(tmp_path, "reflectie") == []  # no stale prompt
    await live_through(bot, clock, datetime(2026, 10, 11, tzinfo=BRUSSELS))  # the agenda of 13 October
    agenda = (tmp_path / "ws" / "jaar" / "overleg" / "2026-10-13 agenda en verslag.md").read_text(encoding="utf-8")
    assert "niet verstuurd" in agenda and "reflectievraag (maandag 21 september 2026)" in agenda
    # named once: the next agenda does not repeat it
    await live_through(bot, clock, datetime(2026, 11, 8, tzinfo=BRUSSELS))
    later = (tmp_path / "ws" / "jaar" / "overleg" / "2026-11-10 agenda en verslag.md").read_text(encoding="utf-8")
    assert "21 september" not in later


async def test_actions_from_edited_minutes_appear_in_the_next_agenda(tmp_path: Path, library, state_url: str) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(datetime(2026, 9, 1, 0, 0, tzinfo=BRUSSELS))
    bot = make_bot(tmp_path, library, clock, state=state_url)
    await live_through(bot, clock, datetime(2026, 9, 9, tzinfo=BRUSSELS))
    minutes = tmp_path / "ws" / "jaar" / "overleg" / "2026-09-08 agenda en verslag.md"
    text = minutes.read_text(encoding="utf-8")
    assert text.rstrip().endswith("- [ ]")
    minutes.write_text(
        text.rstrip().removesuffix("- [ ]")
        + "- [ ] Lokaal boeken voor de ouderavond — An — 2026-10-01\n"
        + "- [x] Uitnodiging versturen — Bert\n"
        + "- [ ] Folder vertalen – Bert – 15/10\n"
        + "- iets wat geen actie is maar wel belangrijk\n"
        + "- [ ]\n",
        encoding="utf-8",
    )
    await live_through(bot, clock, datetime(2026, 10, 11, tzinfo=BRUSSELS))
    agenda = (tmp_path / "ws" / "jaar" / "overleg" / "2026-10-13 agenda en verslag.md").read_text(encoding="utf-8")
    assert "- [ ] Lokaal boeken voor de ouderavond — An — 2026-10-01" in agenda
    assert "- [ ] Folder vertalen — Bert — 2026-10-15" in agenda
    assert "Uitnodiging versturen" not in agenda.split("## Verslag")[0]  # ticked: done
    assert "iets wat geen actie is maar wel belangrijk" in agenda  # not readable, but never dropped
    actions = {a.text: a.done for a in bot.rt.store.actions("jaar")}
    assert actions == {
        "Lokaal boeken voor de ouderavond": False,
        "Uitnodiging versturen": True,
        "Folder vertalen": False,
    }
    # ticking a carried-over action in the new minutes closes it for the agenda after
    agenda_path = tmp_path / "ws" / "jaar" / "overleg" / "2026-10-13 agenda en verslag.md"
    agenda_path.write_text(agenda.replace("    - [ ] Folder vertalen", "    - [x] Folder vertalen"), encoding="utf-8")
    await live_through(bot, clock, datetime(2026, 11, 8, tzinfo=BRUSSELS))
    assert {a.text: a.done for a in bot.rt.store.actions("jaar")}["Folder vertalen"] is True


async def test_pause_holds_prompts_and_resume_lets_them_go_again(tmp_path: Path, library, state_url: str) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(datetime(2026, 9, 1, 0, 0, tzinfo=BRUSSELS))
    bot = make_bot(tmp_path, library, clock, state=state_url)
    bot.rt.store.set_paused("jaar", True, "An")
    await live_through(bot, clock, datetime(2026, 10, 1, tzinfo=BRUSSELS))
    assert [e for e in transcript(tmp_path, "reflectie") if e["kind"] == "reflection"] == []
    assert {s.status for s in bot.rt.store.slots("jaar", REFLECTION)} == {"paused"}
    bot.rt.store.set_paused("jaar", False)
    await live_through(bot, clock, datetime(2026, 10, 20, tzinfo=BRUSSELS))
    assert len([e for e in transcript(tmp_path, "reflectie") if e["kind"] == "reflection"]) == 2  # 5 and 19 Oct


def test_agenda_slots_are_lead_days_before_meetings(library, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot(tmp_path, library, Clock(datetime(2026, 9, 1, tzinfo=UTC)))
    p = bot.partnerships()["jaar"]
    slots = agenda_slots(p, datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC))
    assert [(s.at.astimezone(BRUSSELS).date(), s.meeting.astimezone(BRUSSELS).date()) for s in slots][:2] == [
        (date(2026, 9, 5), date(2026, 9, 8)),
        (date(2026, 10, 10), date(2026, 10, 13)),
    ]
    assert all(s.kind == AGENDA for s in slots)


@pytest.mark.parametrize("hours", [11, 13])
async def test_grace_period_is_configurable_per_kind(tmp_path: Path, library, hours: int) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(datetime(2026, 9, 6, 12, 0, tzinfo=BRUSSELS))
    bot = make_bot(tmp_path, library, clock)
    scheduler = bot.scheduler(grace={REFLECTION: timedelta(hours=12)})
    await scheduler.tick()
    clock.now = datetime(2026, 9, 7, 10, 0, tzinfo=BRUSSELS) + timedelta(hours=hours)
    report = await scheduler.tick()
    assert (len(report.late), len(report.skipped)) == ((1, 0) if hours < 12 else (0, 1))


async def test_a_platform_failure_keeps_the_slot_for_the_next_tick(tmp_path: Path, library, state_url: str) -> None:  # type: ignore[no-untyped-def]
    from brug.ports import PlatformError

    clock = Clock(datetime(2026, 9, 6, 12, 0, tzinfo=BRUSSELS))
    bot = make_bot(tmp_path, library, clock, state=state_url)
    scheduler = bot.scheduler()
    await scheduler.tick()
    real_post = bot.rt.chats["local"].post
    failures = {"left": 1}

    async def flaky_post(*args, **kwargs):  # type: ignore[no-untyped-def]
        if failures["left"]:
            failures["left"] -= 1
            raise PlatformError("the homeserver is unreachable")
        return await real_post(*args, **kwargs)

    bot.rt.chats["local"].post = flaky_post  # type: ignore[method-assign]
    clock.now = datetime(2026, 9, 7, 10, 0, tzinfo=BRUSSELS)
    report = await scheduler.tick()
    assert [s.kind for s in report.failed] == [REFLECTION] and transcript(tmp_path, "reflectie") == []
    clock.now += timedelta(minutes=5)
    report = await scheduler.tick()
    assert [s.kind for s in report.done] == [REFLECTION]
    assert [e["kind"] for e in transcript(tmp_path, "reflectie")] == ["reflection", "pulse"]


@pytest.mark.parametrize("around", [datetime(2026, 10, 25, tzinfo=BRUSSELS), datetime(2027, 3, 28, tzinfo=BRUSSELS)])
async def test_agendas_right_after_a_dst_change_are_not_lost_with_frequent_ticks(
    tmp_path: Path, library, around: datetime
) -> None:  # type: ignore[no-untyped-def]
    """Ticking every 10 minutes, as brug run does, across both changes: every agenda goes out."""
    clock = Clock(around - timedelta(days=6))
    folder = tmp_path / "partnerschappen"
    folder.mkdir()
    (folder / "week.yaml").write_text(
        "id: week\nname: Wekelijks\nworkflow: samenwerken\nphase: leerkansen\norganisations:\n"
        "  - {id: a, name: A, kind: caw, members: [{name: An, role: Lid}]}\n"
        'meetings: {start: "2026-09-01 14:00", rrule: "FREQ=WEEKLY;BYDAY=TU", agenda_lead_days: 3}\n',
        encoding="utf-8",
    )
    bot = Bot(local_runtime(tmp_path, library, clock), [folder])
    assert bot.load() == []
    scheduler = bot.scheduler()
    await scheduler.tick()
    end = around + timedelta(days=10)
    while clock.now < end:
        clock.now += timedelta(minutes=10)
        await scheduler.tick()
    agendas = [s for s in bot.rt.store.slots("week", AGENDA) if s.status == "done"]
    p = bot.partnerships()["week"]
    # the agenda of the meeting the first day's lead time had already passed for is posted at once, late
    expected = overdue_agendas(p, around - timedelta(days=6)) + agenda_slots(p, around - timedelta(days=6), end)
    assert len(agendas) == len(expected) >= 2
    assert {s.at.astimezone(BRUSSELS).hour for s in agendas} == {14}


async def test_unreadable_lines_are_quoted_as_typed(tmp_path: Path, library) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(datetime(2026, 9, 1, 0, 0, tzinfo=BRUSSELS))
    bot = make_bot(tmp_path, library, clock)
    await live_through(bot, clock, datetime(2026, 9, 9, tzinfo=BRUSSELS))
    minutes = tmp_path / "ws" / "jaar" / "overleg" / "2026-09-08 agenda en verslag.md"
    minutes.write_bytes(
        (minutes.read_text(encoding="utf-8") + "- Lokaal `A` boeken (Els) – niet als actie geschreven\n").encode("cp1252")
    )  # saved by an editor in Windows-1252: still read, never a crash
    await live_through(bot, clock, datetime(2026, 10, 11, tzinfo=BRUSSELS))
    agenda = (tmp_path / "ws" / "jaar" / "overleg" / "2026-10-13 agenda en verslag.md").read_text(encoding="utf-8")
    assert "``- Lokaal `A` boeken (Els)" in agenda and "\\`" not in agenda


def test_a_touched_but_unchanged_document_is_still_updated_in_place(cli, in_tmp: Path) -> None:  # type: ignore[no-untyped-def]
    import os
    import shutil

    from tests.conftest import EXAMPLES

    tmp_path = in_tmp
    (tmp_path / "p").mkdir()
    shutil.copy(EXAMPLES[0], tmp_path / "p" / "x.yaml")
    (tmp_path / "brug.toml").write_text('partnerships = ["p"]\n', encoding="utf-8")
    assert cli("--now", "2026-11-23T10:00:00", "apply").exit_code == 0
    overview = tmp_path / "werkruimte" / "cbe-vlierboom" / "overzicht.md"
    os.utime(overview, (1_700_000_000, 1_700_000_000))  # a backup or sync client touched it
    text = (tmp_path / "p" / "x.yaml").read_text(encoding="utf-8")
    (tmp_path / "p" / "x.yaml").write_text(text.replace("name: Leren in De Vlierboom", "name: Leren in de Vlierboom"))
    assert cli("--now", "2026-11-23T10:00:00", "apply").exit_code == 0
    assert "Leren in de Vlierboom" in overview.read_text(encoding="utf-8")
    assert not (overview.parent / "overzicht (nieuwe versie).md").exists()
    assert oct(overview.stat().st_mode & 0o777) != "0o600"  # readable for the team, not only for brug


async def test_an_agenda_whose_lead_time_passed_before_the_start_is_posted_at_once_marked_late(
    tmp_path: Path, library
) -> None:  # type: ignore[no-untyped-def]
    # the meeting is on Tuesday 13 October at 14:00; its agenda was due on Saturday; brug starts on Monday
    clock = Clock(datetime(2026, 10, 12, 9, 0, tzinfo=BRUSSELS))
    bot = make_bot(tmp_path, library, clock)
    report = await bot.scheduler().tick()
    assert [(s.kind, s.meeting) for s in report.late] == [(AGENDA, datetime(2026, 10, 13, 14, 0, tzinfo=BRUSSELS))]
    posts = transcript(tmp_path, "overleg")
    assert len(posts) == 1 and posts[0]["markdown"].startswith("_Deze agenda komt later dan gepland (normaal 3 dagen")
    assert (tmp_path / "ws" / "jaar" / "overleg" / "2026-10-13 agenda en verslag.md").exists()
    readable = (tmp_path / "ws" / "jaar" / "chat" / "overleg.md").read_text(encoding="utf-8")
    assert "**brug** · 2026-10-12 09:00 CEST · agenda" in readable  # local time, with the zone
    assert transcript(tmp_path, "reflectie") == []  # a past reflection prompt is still not posted
    assert (await bot.scheduler().tick()).late == [] and len(transcript(tmp_path, "overleg")) == 1  # once


async def test_no_agenda_for_a_meeting_that_has_already_begun(tmp_path: Path, library) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(datetime(2026, 10, 13, 14, 30, tzinfo=BRUSSELS))  # half an hour into the meeting
    bot = make_bot(tmp_path, library, clock)
    report = await bot.scheduler().tick()
    assert report.done == report.late == [] and transcript(tmp_path, "overleg") == []


async def test_after_long_downtime_an_agenda_for_a_meeting_ahead_is_posted_late_not_skipped(
    tmp_path: Path, library
) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(datetime(2026, 10, 8, 12, 0, tzinfo=BRUSSELS))
    bot = make_bot(tmp_path, library, clock)
    scheduler = bot.scheduler()
    await scheduler.tick()
    clock.now = datetime(2026, 10, 12, 20, 0, tzinfo=BRUSSELS)  # down from Thursday to Monday evening
    report = await scheduler.tick()
    assert [s.kind for s in report.late] == [AGENDA] and AGENDA not in [s.kind for s in report.skipped]
    assert "later dan gepland" in transcript(tmp_path, "overleg")[0]["markdown"]
