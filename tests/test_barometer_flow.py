"""The barometer end to end on the local platform: votes by !score, rounds closing on the schedule,
the document, the radar and the post once, the agenda item, !barometer, the CLI table and the export."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest

from brug import cli as brug_cli
from brug.app import barometer
from brug.app.bot import Bot
from brug.app.conversation import Incoming
from brug.app.export import export_partnership
from brug.app.jobs import post_agenda
from brug.app.scheduler import BAROMETER
from tests.barometer_world import barometer_partnership
from tests.runtime import local_runtime

PID = "barometer-test"
TERM1 = datetime(2026, 10, 5, 10, tzinfo=UTC)  # 2026–2027, first term
END1 = datetime(2027, 1, 4, 8, tzinfo=UTC)  # 09:00 in Brussels: the second term starts
END2 = datetime(2027, 4, 12, 7, tzinfo=UTC)  # after the Easter holiday: the third term starts


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def world(tmp_path: Path, library) -> tuple[Bot, Clock]:  # type: ignore[no-untyped-def]
    clock = Clock(TERM1)
    barometer_partnership(tmp_path / "partnerschappen", extra="barometer: {full: false}\n")
    rt = local_runtime(tmp_path, library, clock)
    bot = Bot(rt, [tmp_path / "partnerschappen"])
    assert bot.load() == []
    return bot, clock


counter = iter(range(100_000))


async def say(bot: Bot, who: str, text: str) -> str:
    replies = await bot.handle(Incoming("local", PID, "reflectie", who, text, f"$e{next(counter)}"))
    assert len(replies) == 1
    return replies[0].markdown


async def close_at(bot: Bot, clock: Clock, moment: datetime) -> None:
    """Let the scheduler handle the round's end, as `brug run` does."""
    scheduler = bot.scheduler()
    clock.now = datetime(moment.year, moment.month, moment.day, 0, tzinfo=UTC)
    await scheduler.tick()  # the first tick only marks where the schedule starts
    clock.now = moment.replace(minute=5)
    report = await scheduler.tick()
    assert [s.kind for s in report.done if s.kind == BAROMETER] == [BAROMETER]


def workspace(bot: Bot) -> Path:
    return bot.rt.files.folder(PID)  # type: ignore[attr-defined]


async def test_a_round_closes_once_with_the_right_figures_and_feeds_the_next_agenda(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bot, clock = world
    p = bot.partnerships()[PID]
    # term 1: everyone rates doel 4 and communicatie 5; ann changes her mind
    for who in ("ann", "bart", "chris", "dina", "emre", "fien"):
        assert "genoteerd" in await say(bot, who, "!score doel 4")
        await say(bot, who, "!score communicatie 5")
    assert "genoteerd" in await say(bot, "ann", "!score doel 2")  # a later vote replaces the earlier one
    assert "al 6 antwoorden" in await say(bot, "gert", "!barometer")  # counts so far, never figures
    assert "Geeft een bouwsteen" in await say(bot, "gert", "!score brug 9")  # wrong use: the command's help
    await close_at(bot, clock, END1)

    record = bot.rt.store.barometer_round(PID, "2026-2027-1")
    assert record is not None and record.status == "closed" and record.respondents == 6
    assert bot.rt.store.open_votes(PID, "2026-2027-1") == []  # who voted is forgotten
    document = (workspace(bot) / "reflectie" / "barometer.md").read_text(encoding="utf-8")
    assert "6 mensen antwoordden" in document
    assert "| Werken aan een gemeenschappelijk doel | **3,7** | 0,7 | 6 |" in document  # (2+4·5)/6
    assert "| Werken aan communicatie | **5,0** | 0,0 | 6 |" in document
    assert "school 3,3 (3) · welzijn 4,0 (3)" in document  # both sectors have 3 and so does the rest
    assert "_te weinig antwoorden_" in document  # bouwstenen nobody rated
    assert (workspace(bot) / "reflectie" / "barometer-2026-2027-1.svg").read_text().startswith("<svg")
    posts = [e for e in bot.rt.chats["local"].entries(PID, "reflectie") if e.get("kind") == "barometer"]  # type: ignore[attr-defined]
    assert len(posts) == 1 and "Barometer 2026–2027, trimester 1" in posts[0]["markdown"]

    # a late vote for the closed round does not count, and the voter hears so
    assert "al afgesloten" not in await say(bot, "gert", "!score doel 1")  # goes to the new round
    assert bot.rt.store.record_vote(PID, "2026-2027-1", "doel", "gert", 1, "bestuur", END1) == "closed"

    # term 2: doel drops sharply -> the next agenda carries it with bank questions and the one-action step
    for who in ("ann", "bart", "chris", "dina"):
        await say(bot, who, "!score doel 2")
        await say(bot, who, "!score communicatie 5")
    await close_at(bot, clock, END2)
    await close_at_again(bot, clock)  # a second run changes nothing
    posts = [e for e in bot.rt.chats["local"].entries(PID, "reflectie") if e.get("kind") == "barometer"]  # type: ignore[attr-defined]
    assert len(posts) == 2
    document = (workspace(bot) / "reflectie" / "barometer.md").read_text(encoding="utf-8")
    assert "zakte met 1,9" in document and "## Verloop" in document

    meeting = p.meeting_times(clock.now, 1)[0]
    await post_agenda(p, meeting, bot.rt)
    agenda = next((workspace(bot) / "overleg").glob("*agenda*")).read_text(encoding="utf-8")
    assert "Barometer: Werken aan een gemeenschappelijk doel" in agenda
    assert "Kies samen één bouwsteen en één concrete actie" in agenda and "«" in agenda
    following = p.meeting_times(meeting, 1)[0]
    assert barometer.agenda_item(p, bot.rt, following) is None  # discussed once, not again

    header, rows = barometer.table(p, bot.rt, "nl")
    assert rows[0][:2] == ["2026–2027, trimester 1", "6"] and rows[1][2] == "1,8"
    assert barometer.trend(p, bot.rt, "nl") == "2026–2027, trimester 1: 4,3 → 2026–2027, trimester 2: 3,4"

    written = await export_partnership(PID, p, bot.rt, tmp_path / "export")
    with (tmp_path / "export" / PID / "barometer.csv").open(encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert any(r["bouwsteen"] == "doel" and r["group"] == "" and r["mean"] == "3.67" for r in table)
    assert set(table[0]) >= {"round", "respondents", "n", "mean", "spread"}
    assert not any(name in (tmp_path / "export" / PID / "barometer.csv").read_text() for name in ("ann", "Ann"))
    assert tmp_path / "export" / PID / "barometer.csv" in written

    bot.rt.store.forget(PID)
    assert bot.rt.store.barometer_rounds(PID) == []


async def close_at_again(bot: Bot, clock: Clock) -> None:
    p = bot.partnerships()[PID]
    assert await barometer.close_due_rounds(p, bot.rt, clock.now) == []


async def test_two_respondents_show_nothing_but_not_enough_answers(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bot, clock = world
    p = bot.partnerships()[PID]
    await say(bot, "ann", "!score doel 1")
    await say(bot, "dina", "!score doel 5")
    assert "2 van 3" in await say(bot, "bart", "!barometer")
    await close_at(bot, clock, END1)
    document = (workspace(bot) / "reflectie" / "barometer.md").read_text(encoding="utf-8")
    assert "Niet genoeg antwoorden: 2 van 3" in document
    for figure in ("1,0", "5,0", "3,0", "2,0"):
        assert figure not in document
    assert not list((workspace(bot) / "reflectie").glob("*.svg"))
    post = [e for e in bot.rt.chats["local"].entries(PID, "reflectie") if e.get("kind") == "barometer"]  # type: ignore[attr-defined]
    assert len(post) == 1 and "Niet genoeg antwoorden: 2 van 3" in post[0]["markdown"]
    assert "niet genoeg antwoorden: 2 van 3" in await say(bot, "bart", "!barometer")
    assert barometer.table(p, bot.rt, "nl")[1][0][2] == "te weinig antwoorden"
    assert barometer.latest_svg(p, bot.rt) is None
    assert barometer.agenda_item(p, bot.rt, p.meeting_times(clock.now, 1)[0]) is None
    await export_partnership(PID, p, bot.rt, tmp_path / "export")
    rows = list(csv.reader((tmp_path / "export" / PID / "barometer.csv").open(encoding="utf-8")))
    assert rows[1][3] == "2" and all(cell == "" for cell in rows[1][4:])


def test_the_command_line_shows_the_rounds_and_writes_the_radar(in_tmp, cli, library, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # brug.cli's console took COLUMNS from the environment of the moment this process first imported it (set by
    # whichever test ran first); let it read COLUMNS when it prints, as a `brug` started with COLUMNS=200 does
    monkeypatch.setattr(brug_cli.out, "_width", None)
    (in_tmp / "brug.toml").write_text('partnerships = ["partnerschappen"]\nworkspace = "ws"\nstate = "state.db"\n')
    barometer_partnership(in_tmp / "partnerschappen", extra="barometer: {full: false}\n")
    clock = Clock(TERM1)
    bot = Bot(local_runtime(in_tmp, library, clock), [in_tmp / "partnerschappen"])
    assert bot.load() == []
    assert "Nog geen afgesloten barometerronde" in cli("barometer", PID).stdout

    async def vote_and_close() -> None:
        for who, score in (("ann", 2), ("bart", 3), ("dina", 4), ("emre", 5)):
            await say(bot, who, f"!score relatie {score}")
        clock.now = END1
        await barometer.close_round(bot.partnerships()[PID], "2026-2027-1", bot.rt)

    asyncio.run(vote_and_close())
    bot.rt.store.close()
    shown = cli("barometer", PID, env={"COLUMNS": "200"})
    assert shown.exit_code == 0
    assert "2026–2027, trimester 1" in shown.stdout and "3,5" in shown.stdout  # relatie: (2+3+4+5)/4
    assert "ann" not in shown.stdout.lower().split()
    written = cli("barometer", PID, "--svg", "radar.svg")
    assert written.exit_code == 0 and (in_tmp / "radar.svg").read_text().startswith("<svg")
    assert cli("barometer", "bestaat-niet").exit_code == 1
    status = cli("status", env={"COLUMNS": "200"})
    assert "barometer: 2026–2027, trimester 1: 3,5" in status.stdout


async def test_a_full_round_posts_six_polls_once_and_prompt_rounds_close_with_the_next_prompt(
    tmp_path, library
) -> None:  # type: ignore[no-untyped-def]
    from brug.app.jobs import post_reflection, run_barometer

    clock = Clock(END1)
    barometer_partnership(tmp_path / "p1", "vol", extra="barometer: {full: true}\n")
    bot = Bot(local_runtime(tmp_path / "a", library, clock), [tmp_path / "p1"])
    assert bot.load() == []
    p = bot.partnerships()["vol"]
    for _ in range(2):  # a retry posts nothing twice
        await run_barometer(p, END1, bot.rt)
    posts = bot.rt.chats["local"].entries("vol", "reflectie")  # type: ignore[attr-defined]
    assert [e["kind"] for e in posts].count("pulse") == 6
    assert [e["kind"] for e in posts].count("barometer") == 1
    assert "Barometer 2026–2027, trimester 2" in posts[0]["markdown"]
    assert "nooit personen" in posts[0]["markdown"]  # the prompt says what is rated

    barometer_partnership(tmp_path / "p2", "telling", extra="barometer: {every_prompts: 2, full: false}\n")
    bot = Bot(local_runtime(tmp_path / "b", library, clock), [tmp_path / "p2"])
    assert bot.load() == []
    p = bot.partnerships()["telling"]
    slots = [datetime(2026, 9, 25, 7, tzinfo=UTC), datetime(2026, 10, 30, 8, tzinfo=UTC), datetime(2026, 11, 27, 8, tzinfo=UTC)]
    await post_reflection(p, slots[0], bot.rt)
    first = bot.rt.store.barometer_rounds("telling", "open")
    assert [r.round_id for r in first] == ["001-2026-09-25"]
    for who in ("ann", "bart", "dina"):
        replies = await bot.handle(Incoming("local", "telling", "reflectie", who, "!score afstemming 2", f"$t{who}"))
        assert "genoteerd" in replies[0].markdown
    await post_reflection(p, slots[1], bot.rt)
    assert bot.rt.store.barometer_round("telling", "001-2026-09-25").status == "open"  # type: ignore[union-attr]
    await post_reflection(p, slots[2], bot.rt)  # the third prompt starts round 2 and closes round 1
    closed = bot.rt.store.barometer_round("telling", "001-2026-09-25")
    assert closed is not None and closed.status == "closed" and closed.respondents == 3
    assert [r.round_id for r in bot.rt.store.barometer_rounds("telling", "open")] == ["002-2026-11-27"]


def test_rounds_by_rule_and_a_clear_error_for_too_small_a_minimum(tmp_path, in_tmp, cli, library) -> None:  # type: ignore[no-untyped-def]
    extra = 'barometer: {rrule: "FREQ=MONTHLY;INTERVAL=3", start: "2026-09-01 09:00"}\n'
    barometer_partnership(tmp_path / "p", "regel", extra=extra)
    bot = Bot(local_runtime(tmp_path, library, Clock(TERM1)), [tmp_path / "p"])
    assert bot.load() == []
    p = bot.partnerships()["regel"]
    found = barometer.round_at(p, datetime(2026, 10, 15, tzinfo=UTC))
    assert found.id == "2026-09-01" and found.end is not None and found.end.isoformat() == "2026-12-01T09:00:00+01:00"
    ends = barometer.boundaries(p, datetime(2026, 9, 2, tzinfo=UTC), datetime(2027, 3, 2, tzinfo=UTC))
    assert [e.date().isoformat() for e in ends] == ["2026-12-01", "2027-03-01"]

    (in_tmp / "brug.toml").write_text('partnerships = ["partnerschappen"]\n')
    barometer_partnership(in_tmp / "partnerschappen", "klein", extra="barometer: {min_respondents: 2}\n")
    checked = cli("validate")
    assert checked.exit_code != 0
    assert "klein.yaml" in checked.output and "barometer.min_respondents" in checked.output
    assert "minstens 3" in checked.output


async def test_a_round_nobody_answered_closes_in_silence(world) -> None:  # type: ignore[no-untyped-def]
    bot, clock = world
    assert barometer.current_round(bot.partnerships()[PID], bot.rt) == "2026-2027-1"  # as a pulse poll does
    await close_at(bot, clock, END1)
    record = bot.rt.store.barometer_round(PID, "2026-2027-1")
    assert record is not None and record.status == "closed" and record.respondents == 0
    assert not (workspace(bot) / "reflectie" / "barometer.md").exists()
    assert [e for e in bot.rt.chats["local"].entries(PID, "reflectie") if e.get("kind") == "barometer"] == []  # type: ignore[attr-defined]
