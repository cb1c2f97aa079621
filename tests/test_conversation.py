"""The chat commands, the same on every platform (driven here through the local transcript chat)."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml

from brug.app.bot import Bot
from brug.app.conversation import Incoming
from brug.app.jobs import post_agenda, post_reflection
from brug.app.meetings import agenda_for, render_agenda
from brug.content.render import format_date
from tests.conftest import ROOT
from tests.runtime import local_runtime

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def bot(tmp_path: Path, library) -> Bot:  # type: ignore[no-untyped-def]
    folder = tmp_path / "partnerschappen"
    folder.mkdir()
    shutil.copy(ROOT / "examples" / "cbe-armoede.yaml", folder / "cbe.yaml")
    rt = local_runtime(tmp_path, library, lambda: NOW)
    b = Bot(rt, [folder])
    assert b.load() == []
    return b


counter = iter(range(10_000))


async def say(bot: Bot, sender: str, text: str, room: str = "overleg", thread_root: str | None = None) -> str:
    replies = await bot.handle(
        Incoming("local", "cbe-vlierboom", room, sender, text, f"$e{next(counter)}", thread_root)
    )
    assert len(replies) == 1
    return replies[0].markdown


async def test_help_lists_every_command(bot: Bot) -> None:
    text = await say(bot, "els-van-damme", "!hulp")
    for word in ("!status", "!agenda", "!agendapunt", "!actie", "!klaar", "!fase", "!pauze", "!hervat"):
        assert word in text
    assert await say(bot, "els-van-damme", "!help") == text  # the English alias


async def test_non_members_are_refused_politely(bot: Bot) -> None:
    text = await say(bot, "iemand-anders", "!agendapunt Ik mag dit niet")
    assert "alleen leden" in text
    assert bot.rt.store.open_agenda_items("cbe-vlierboom") == []


async def test_unknown_command_and_wrong_usage_are_never_silent(bot: Bot) -> None:
    assert "!hulp" in await say(bot, "els-van-damme", "!bestaatniet")
    assert "!agendapunt" in await say(bot, "els-van-damme", "!agendapunt")
    assert "!klaar" in await say(bot, "els-van-damme", "!klaar drie")
    assert "!fase" in await say(bot, "els-van-damme", "!fase achteruit")


async def test_actions_are_numbered_ticked_and_shown_in_status(bot: Bot) -> None:
    text = await say(bot, "koen-de-smet", "!actie Lokaal reserveren @els 1/12")
    assert "Actie 1" in text and "Els Van Damme" in text and "1 december 2026" in text
    await say(bot, "koen-de-smet", "!actie Uitnodiging *maken*")
    status = await say(bot, "marc-goossens", "!status")
    assert "1. Lokaal reserveren — Els Van Damme — dinsdag 1 december 2026" in status and "2. Uitnodiging \\*maken\\*" in status
    assert "donderdag 10 december 2026 om 13:30 CET" in status  # the next meeting: local time, with the zone
    assert "Actie 2 is afgevinkt" in await say(bot, "marc-goossens", "!klaar 2")
    assert "geen open actie met nummer 2" in await say(bot, "marc-goossens", "!klaar 2")
    assert [a.number for a in bot.rt.store.actions("cbe-vlierboom", open_only=True)] == [1]


async def test_agendapunt_and_agenda(bot: Bot) -> None:
    text = await say(bot, "sofie-vermeulen", "!agendapunt Vervoer naar het CBE")
    assert "donderdag 10 december 2026 om 13:30" in text
    agenda = await say(bot, "sofie-vermeulen", "!agenda")
    assert "Vervoer naar het CBE" in agenda and "Sofie Vermeulen" in agenda


async def test_only_a_coordinator_moves_the_phase_and_the_file_follows(bot: Bot) -> None:
    await bot.apply()
    assert "fase 2/6" in (await say(bot, "marc-goossens", "!fase")).lower()
    assert "Alleen een coördinator" in await say(bot, "marc-goossens", "!fase volgende")
    text = await say(bot, "els-van-damme", "!fase volgende")
    assert "fase 3/6" in text
    path = next(iter(bot.loaded.values())).path
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert data["phase"] == "draagvlak"
    assert "# Voorbeeld 1 (fictief)" in path.read_text(encoding="utf-8")  # comments kept
    transcript = bot.rt.chats["local"].entries("cbe-vlierboom", "algemeen")  # type: ignore[attr-defined]
    assert [e["kind"] for e in transcript] == ["welcome", "phase-change"]
    assert (bot.rt.files.folder("cbe-vlierboom") / "fasen" / "03-draagvlak" / "gids.md").is_file()  # type: ignore[attr-defined]


async def test_pause_and_resume_are_for_coordinators(bot: Bot) -> None:
    refused = await say(bot, "marc-goossens", "!pauze")
    assert "Alleen een coördinator" in refused and "Koen De Smet" in refused and "Els Van Damme" in refused
    assert not bot.rt.store.is_paused("cbe-vlierboom")
    assert "gepauzeerd" in await say(bot, "els-van-damme", "!pauze")
    assert bot.rt.store.is_paused("cbe-vlierboom")
    assert "Alleen een coördinator" in await say(bot, "marc-goossens", "!hervat")
    assert bot.rt.store.is_paused("cbe-vlierboom")
    assert "weer" in await say(bot, "koen-de-smet", "!hervat")
    assert not bot.rt.store.is_paused("cbe-vlierboom")
    assert "🔒" in await say(bot, "marc-goossens", "!hulp")


async def test_too_long_arguments_are_refused_kindly_and_nothing_is_stored(bot: Bot) -> None:
    text = await say(bot, "marc-goossens", "!agendapunt " + "x" * 40_000)
    assert "te lang" in text and "200 tekens" in text and "40.000" in text and len(text) < 400
    assert bot.rt.store.open_agenda_items("cbe-vlierboom") == []
    assert "300 tekens" in await say(bot, "marc-goossens", "!actie " + "&" * 11_000)
    assert bot.rt.store.actions("cbe-vlierboom") == []
    assert "100 tekens" in await say(bot, "marc-goossens", "!klaar " + "9" * 5_000)  # no free text: 100 at most
    exactly = "y" * 200  # the limit itself is accepted
    assert "Genoteerd" in await say(bot, "marc-goossens", f"!agendapunt {exactly}")
    help_text = await say(bot, "marc-goossens", "!hulp")
    assert "hoogstens 200 tekens" in help_text and "hoogstens 300 tekens" in help_text and "2000" in help_text


async def test_an_agendapunt_after_the_agenda_went_out_says_which_meeting_it_goes_to(bot: Bot) -> None:
    p = bot.partnerships()["cbe-vlierboom"]
    first, second = p.meeting_times(NOW, 2)
    assert "donderdag 10 december 2026" in await say(bot, "marc-goossens", "!agendapunt Vroeg punt")
    await post_agenda(p, first, bot.rt)
    text = await say(bot, "marc-goossens", "!agendapunt Laat punt")
    later_day = format_date(second.astimezone(p.zone).date(), "nl")
    assert "al verstuurd" in text and "10 december" in text and later_day in text
    # and it really is on the agenda of that later meeting, not on the one that went out
    later = await say(bot, "marc-goossens", "!agenda")
    assert "Vroeg punt" in later and "Laat punt" not in later and "al verstuurd" in later
    agenda = render_agenda(agenda_for(p, second, bot.rt.store, bot.rt.library), p, bot.rt.library, bot.rt.renderer, NOW)
    assert "Laat punt" in agenda and "Vroeg punt" not in agenda


async def test_the_agenda_in_chat_is_the_agenda_only(bot: Bot) -> None:
    p = bot.partnerships()["cbe-vlierboom"]
    await say(bot, "marc-goossens", "!actie Lokaal reserveren @els 1/12")
    await post_agenda(p, p.meeting_times(NOW, 1)[0], bot.rt)
    posted = bot.rt.chats["local"].entries(p.id, "overleg")[-1]["markdown"]  # type: ignore[attr-defined]
    assert "## Verslag" not in posted and "_…_" not in posted and "## Acties" not in posted
    assert "dinsdag 1 december 2026" in posted and "2026-12-01" not in posted
    # files: local -> no link people cannot open, but plainly where the document is
    assert "werkmap van brug" in posted and "agenda en verslag.md" in posted
    document = (bot.rt.files.folder(p.id) / "overleg").glob("*agenda en verslag.md")  # type: ignore[attr-defined]
    assert any("## Verslag" in d.read_text(encoding="utf-8") for d in document)


async def test_an_outsiders_thread_reply_is_refused_and_not_stored(bot: Bot) -> None:
    p = bot.partnerships()["cbe-vlierboom"]
    ref = bot.rt.store.sent_post_by_key("local", await post_reflection(p, NOW, bot.rt))
    replies = await bot.handle(Incoming("local", p.id, "reflectie", "iemand-anders", "Mijn mening", "$o1", ref))
    assert replies[0].reaction is None and "niet bewaard" in replies[0].markdown
    assert bot.rt.store.answers(p.id) == []
    long = await bot.handle(Incoming("local", p.id, "reflectie", "marc-goossens", "z" * 2001, "$o2", ref))
    assert "te lang" in long[0].markdown and "2.000" in long[0].markdown
    assert bot.rt.store.answers(p.id) == []


async def test_replies_in_a_prompt_thread_are_collected_as_answers(bot: Bot) -> None:
    p = bot.partnerships()["cbe-vlierboom"]
    key = await post_reflection(p, NOW, bot.rt)
    ref = bot.rt.store.sent_post_by_key("local", key)
    replies = await bot.handle(Incoming("local", p.id, "reflectie", "marc-goossens", "We luisteren beter.", "$a1", ref))
    assert replies[0].reaction == "👍"
    await bot.handle(Incoming("local", p.id, "reflectie", "marc-goossens", "We luisteren beter.", "$a1", ref))
    answers = bot.rt.store.answers(p.id)
    assert [(a.author, a.text) for a in answers] == [("Marc Goossens", "We luisteren beter.")]
    # an ordinary message outside a prompt's thread is left alone
    assert await bot.handle(Incoming("local", p.id, "algemeen", "marc-goossens", "Dag allemaal", "$a2")) == []


def test_dates_in_actions(library) -> None:  # type: ignore[no-untyped-def]
    from brug.domain.actions import parse_action_command, parse_date

    today = date(2026, 11, 23)
    assert parse_date("1/12", today) == date(2026, 12, 1)
    assert parse_date("1/3", today) == date(2027, 3, 1)  # the next 1 March
    assert parse_date("2027-02-30", today) is None
    command = parse_action_command("Brief sturen @an 2026-12-05", today)
    assert command is not None and (command.text, command.who, command.due) == ("Brief sturen", "an", date(2026, 12, 5))
    assert parse_action_command("@an", today) is None


async def test_phase_moves_once_per_message_even_when_delivered_again(bot: Bot) -> None:
    await bot.apply()
    message = Incoming("local", "cbe-vlierboom", "algemeen", "els-van-damme", "!fase volgende", "$same-event")
    await bot.handle(message)
    await bot.handle(message)  # the same message again (a retry after a failed reply, a restart)
    assert bot.partnerships()["cbe-vlierboom"].phase == "draagvlak"  # one step, not two


async def test_a_failing_command_answers_sorry_and_keeps_listening(bot: Bot, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise PermissionError("the partnership file is read-only")

    monkeypatch.setattr(bot.rt.store, "add_agenda_item", broken)
    replies = await bot.handle(Incoming("local", "cbe-vlierboom", "overleg", "els-van-damme", "!agendapunt x", "$e1"))
    assert "Sorry" in replies[0].markdown
    assert "!klaar" in await say(bot, "els-van-damme", "!klaar ²")  # a superscript two is not a number
    assert "!klaar" in await say(bot, "els-van-damme", "!klaar 99999999999999999999")


def test_a_partnership_whose_file_is_gone_is_no_longer_served(bot: Bot) -> None:
    next(iter(bot.loaded.values())).path.unlink()
    bot.load()
    assert bot.partnerships() == {}


async def test_with_local_files_chat_says_plainly_where_the_documents_are(bot: Bot) -> None:
    await bot.apply()
    chat = bot.rt.chats["local"]
    welcome = next(e for e in chat.entries("cbe-vlierboom", "algemeen") if e["kind"] == "welcome")  # type: ignore[attr-defined]
    assert "gedeelde map" not in welcome["markdown"] and "werkmap van brug" in welcome["markdown"]
    assert "Koen De Smet of Els Van Damme" in welcome["markdown"]  # whom to ask
