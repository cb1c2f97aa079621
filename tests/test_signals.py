"""Signals to policy: parsing, the rules of the status, the chat commands and the log document."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from brug.app.bot import Bot
from brug.app.conversation import Incoming
from brug.content.library import Library
from brug.domain.signals import (
    Level,
    NewSignal,
    SignalRecord,
    SignalUpdate,
    Status,
    Verb,
    change_for,
    parse_signal_args,
    read_signal_lines,
    waiting,
)
from tests.conftest import ROOT
from tests.runtime import local_runtime

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
PID = "cbe-vlierboom"


# --- parsing -----------------------------------------------------------------------------------------


def test_a_new_signal_takes_theme_and_level_from_hashtags(library: Library) -> None:
    parsed = parse_signal_args("De bus van lijn 5 vertrekt te vroeg #mobiliteit #MESO", library.signals)
    assert parsed == NewSignal("De bus van lijn 5 vertrekt te vroeg", "mobiliteit", Level.meso)
    free = parse_signal_args("Geen zwemlessen meer #vrije-tijd", library.signals)
    assert free == NewSignal("Geen zwemlessen meer", "vrije tijd", None)  # an unknown theme is kept as free text
    by_label = parse_signal_args("Lange wachtlijsten #Toegankelijkheid-van-hulp", library.signals)
    assert isinstance(by_label, NewSignal) and by_label.theme == "toegankelijkheid-hulp"


def test_a_number_then_a_verb_is_an_update_and_a_number_then_text_a_new_signal(library: Library) -> None:
    cat = library.signals
    assert parse_signal_args("3 doorgegeven aan de schepen van onderwijs", cat) == SignalUpdate(
        3, Verb.doorgegeven, "de schepen van onderwijs"
    )
    assert parse_signal_args("3 antwoord: De stad bekijkt het", cat) == SignalUpdate(
        3, Verb.antwoord, "De stad bekijkt het"
    )
    assert parse_signal_args("#3 afgesloten", cat) == SignalUpdate(3, Verb.afgesloten, "")
    assert parse_signal_args("3", cat) == SignalUpdate(3, Verb.toon)
    assert parse_signal_args("3 forwarded to the alderman", cat) == SignalUpdate(3, Verb.doorgegeven, "the alderman")
    assert parse_signal_args("12 gezinnen vonden geen woning", cat) == NewSignal(
        "12 gezinnen vonden geen woning", None, None
    )
    assert parse_signal_args("   ", cat) is None
    assert parse_signal_args("#wonen", cat) is None  # only a tag: no text


def test_theme_and_level_are_suggested_from_the_words(library: Library) -> None:
    cat = library.signals
    assert cat.guess_theme("Veel gezinnen vinden geen betaalbare huurwoning").id == "wonen"  # type: ignore[union-attr]
    assert cat.guess_theme("De schoolfactuur voor de zeeklassen is te hoog").id == "onderwijskosten"  # type: ignore[union-attr]
    assert cat.guess_theme("Niets herkenbaars hier") is None
    assert cat.guess_level("De Vlaamse regering moet het groeipakket aanpassen") is Level.macro
    assert cat.guess_level("De gemeente sluit het loket op woensdag") is Level.meso


def signal(status: Status, **extra) -> SignalRecord:  # type: ignore[no-untyped-def]
    return SignalRecord(PID, 1, "x", "wonen", None, status, "An", None, NOW, **extra)


def test_the_status_moves_forward_and_a_closed_signal_stays_closed(library: Library) -> None:
    cat = library.signals
    assert change_for(signal(Status.nieuw), SignalUpdate(1, Verb.besproken), NOW, cat).event is Status.besproken
    assert change_for(signal(Status.doorgegeven), SignalUpdate(1, Verb.besproken), NOW, cat).problem == "already"
    forwarded = change_for(signal(Status.besproken), SignalUpdate(1, Verb.doorgegeven, "OCMW-raad"), NOW, cat)
    assert forwarded.values == {"status": Status.doorgegeven, "forwarded_to": "OCMW-raad", "forwarded_at": NOW}
    again = change_for(signal(Status.antwoord), SignalUpdate(1, Verb.doorgegeven, "Vlaams minister"), NOW, cat)
    assert again.event is Status.doorgegeven  # passing on to another level after an answer is fine
    assert change_for(signal(Status.nieuw), SignalUpdate(1, Verb.doorgegeven, ""), NOW, cat).problem == "empty"
    assert change_for(signal(Status.afgesloten), SignalUpdate(1, Verb.antwoord, "ja"), NOW, cat).problem == "closed"
    assert change_for(signal(Status.nieuw), SignalUpdate(1, Verb.niveau, "hoog"), NOW, cat).problem == "level"
    assert change_for(signal(Status.nieuw), SignalUpdate(1, Verb.antwoord, "x" * 1001), NOW, cat).problem == "too-long"


def test_waiting_means_passed_on_longer_than_n_weeks_ago() -> None:
    old = signal(Status.doorgegeven, forwarded_to="stad", forwarded_at=NOW - timedelta(weeks=7))
    recent = signal(Status.doorgegeven, forwarded_to="stad", forwarded_at=NOW - timedelta(weeks=5))
    answered = signal(Status.antwoord, forwarded_to="stad", forwarded_at=NOW - timedelta(weeks=9))
    assert waiting([old, recent, answered], NOW, 6) == [old]


def test_the_signalen_section_of_the_minutes(library: Library) -> None:
    minutes = "\n".join(
        [
            "## Acties",
            "- [ ] Geen signaal — Els",
            "## Signalen",
            "- Gezinnen vinden geen betaalbare opvang in de zomer — kinderopvang — meso",
            "- [x] #2 De bus vertrekt te vroeg (nieuw)",
            "- [ ] #3 Nog niet besproken",
            "- #4 doorgegeven aan de schepen van onderwijs",
            "- signaal 5 antwoord De stad bekijkt een sociaal tarief",
            "- [ ] ",
            "- …",
            "Gewone tekst telt niet mee.",
            "## Rondvraag",
            "- Dit is geen signaal",
        ]
    )
    lines = read_signal_lines(minutes, library.signals)
    assert [(line.line_number, line.item) for line in lines] == [
        (4, NewSignal("Gezinnen vinden geen betaalbare opvang in de zomer", "kinderopvang", Level.meso)),
        (5, SignalUpdate(2, Verb.besproken)),
        (7, SignalUpdate(4, Verb.doorgegeven, "de schepen van onderwijs")),
        (8, SignalUpdate(5, Verb.antwoord, "De stad bekijkt een sociaal tarief")),
    ]


# --- in chat -------------------------------------------------------------------------------------------


@pytest.fixture
def bot(tmp_path: Path, library) -> Bot:  # type: ignore[no-untyped-def]
    folder = tmp_path / "partnerschappen"
    folder.mkdir()
    shutil.copy(ROOT / "examples" / "cbe-armoede.yaml", folder / "cbe.yaml")
    clock = {"now": NOW}
    rt = local_runtime(tmp_path, library, lambda: clock["now"])
    b = Bot(rt, [folder])
    b.clock = clock  # type: ignore[attr-defined]
    assert b.load() == []
    return b


counter = iter(range(100_000))


async def say(bot: Bot, sender: str, text: str) -> str:
    replies = await bot.handle(Incoming("local", PID, "overleg", sender, text, f"$s{next(counter)}"))
    assert len(replies) == 1
    return replies[0].markdown


def log_document(bot: Bot) -> str:
    return (bot.rt.files.root / PID / "signalen.md").read_text(encoding="utf-8")  # type: ignore[attr-defined]


async def test_signals_raised_refused_moved_listed_and_logged(bot: Bot) -> None:
    await bot.apply()
    assert "_Er zijn nog geen signalen genoteerd._" in log_document(bot)

    one = await say(
        bot, "els-van-damme", "!signaal Meerdere gezinnen vinden de schoolfactuur voor de zeeklassen te hoog"
    )
    assert "Signaal 1 genoteerd" in one and "Onderwijskosten (door brug voorgesteld)" in one
    two = await say(bot, "koen-de-smet", "!signaal De bus van lijn 5 vertrekt voor de opvang sluit #mobiliteit #meso")
    assert "Signaal 2 genoteerd" in two and "Mobiliteit" in two and "meso" in two

    refused = await say(bot, "koen-de-smet", "!signaal Jonas (8) uit het derde leerjaar mag niet mee op schoolreis")
    assert "Dit bewaar ik niet" in refused and "een naam met een leeftijd" in refused and "Jonas" not in refused
    assert [s.number for s in bot.rt.store.signals(PID)] == [1, 2]  # nothing of the refused text was kept
    with bot.rt.store.engine.connect() as conn:
        dump = "\n".join(str(row) for row in conn.exec_driver_sql("SELECT * FROM signals"))
        events = "\n".join(str(row) for row in conn.exec_driver_sql("SELECT * FROM signal_events"))
    assert "Jonas" not in dump + events

    assert "*besproken*" in await say(bot, "els-van-damme", "!signaal 1 besproken")
    moved = await say(bot, "els-van-damme", "!signaal 1 doorgegeven aan de schepen van onderwijs")
    assert "*doorgegeven* (aan de schepen van onderwijs)" in moved
    assert "*antwoord ontvangen*" in await say(
        bot, "marc-goossens", "!signaal 1 antwoord De stad bekijkt een sociaal tarief"
    )
    assert "geen signaal met nummer 7" in await say(bot, "marc-goossens", "!signaal 7 besproken")
    leaked = await say(bot, "marc-goossens", "!signaal 2 doorgegeven aan mevrouw Peeters, 0470 12 34 56")
    assert "een telefoonnummer" in leaked and bot.rt.store.signal(PID, 2).status is Status.nieuw  # type: ignore[union-attr]

    listed = await say(bot, "sofie-vermeulen", "!signalen")
    assert (
        listed.index("*nieuw*")
        < listed.index("2. De bus")
        < listed.index("*antwoord ontvangen*")
        < listed.index("1. Meerdere")
    )

    log = log_document(bot)  # brought up to date right after each change
    assert log.index("## Nieuw (1)") < log.index("### 2. De bus") < log.index("## Antwoord ontvangen (1)")
    assert "- **Doorgegeven aan:** de schepen van onderwijs op maandag 23 november 2026" in log
    assert "- **Antwoord** (maandag 23 november 2026): De stad bekijkt een sociaal tarief" in log
    assert "door Koen De Smet (Centrum voor Basiseducatie Leieland)" in log

    assert "*afgesloten*" in await say(bot, "els-van-damme", "!signaal 1 afgesloten")
    assert "is afgesloten" in await say(bot, "els-van-damme", "!signaal 1 besproken")
    assert "1. Meerdere" not in await say(bot, "els-van-damme", "!signalen")
    assert "## Afgesloten (1)" in log_document(bot)


async def test_a_signal_waiting_too_long_is_marked_in_the_list(bot: Bot) -> None:
    await say(bot, "els-van-damme", "!signaal Wachtlijst voor logopedie is een jaar")
    await say(bot, "els-van-damme", "!signaal 1 doorgegeven aan het CLB-bestuur")
    bot.clock["now"] = NOW + timedelta(weeks=7)  # type: ignore[attr-defined]
    assert "⏰ wacht sinds maandag 23 november 2026 op een antwoord" in await say(bot, "els-van-damme", "!signalen")


async def test_signal_commands_help_and_limits(bot: Bot) -> None:
    assert "!signaal" in await say(bot, "els-van-damme", "!signaal")
    assert "te lang" in await say(bot, "els-van-damme", "!signaal " + "lang " * 120)
    assert "!signaal" in await say(bot, "els-van-damme", "!hulp")
    assert "geen open signalen" in await say(bot, "els-van-damme", "!signalen")
    assert "alleen leden" in await say(bot, "een-buitenstaander", "!signaal De bus rijdt te vroeg")
    assert bot.rt.store.signals(PID) == []


async def test_the_same_message_delivered_twice_adds_one_signal(bot: Bot) -> None:
    message = Incoming("local", PID, "overleg", "els-van-damme", "!signaal Geen warme maaltijd op woensdag", "$same")
    await bot.handle(message)
    again = await bot.handle(message)
    assert "al genoteerd" in again[0].markdown
    assert len(bot.rt.store.signals(PID)) == 1


async def test_forget_removes_the_signals(bot: Bot) -> None:
    await say(bot, "els-van-damme", "!signaal Geen warme maaltijd op woensdag")
    await say(bot, "els-van-damme", "!signaal 1 besproken")
    bot.rt.store.forget(PID)
    assert bot.rt.store.signals(PID) == [] and bot.rt.store.signals_digest(PID) == [0, 0]


# --- the agenda carries them; the minutes bring them back -------------------------------------------------


async def test_the_agenda_carries_new_and_waiting_signals_and_the_minutes_move_them(bot: Bot) -> None:
    from brug.app.jobs import post_agenda

    p = bot.partnerships()[PID]
    await say(bot, "els-van-damme", "!signaal Gezinnen vinden geen betaalbare opvang op woensdagnamiddag #kinderopvang")
    await say(bot, "koen-de-smet", "!signaal De bus naar het CBE rijdt niet in de schoolvakanties #mobiliteit #meso")
    await say(bot, "koen-de-smet", "!signaal 2 doorgegeven aan de mobiliteitsambtenaar")
    bot.clock["now"] = NOW + timedelta(weeks=7)  # type: ignore[attr-defined]
    first = p.meeting_times(bot.clock["now"], 2)  # type: ignore[attr-defined]
    await post_agenda(p, first[0], bot.rt)
    folder = bot.rt.files.root / PID / "overleg"  # type: ignore[attr-defined]
    document = next(folder.glob("*agenda en verslag.md"))
    agenda = document.read_text(encoding="utf-8")
    new_item = agenda.index("**Signalen: bespreken en bundelen**")
    waiting_item = agenda.index("**Signalen die op antwoord wachten**")
    assert agenda.index("1. Gezinnen vinden geen betaalbare opvang", new_item) < waiting_item
    assert "2. De bus naar het CBE rijdt niet in de schoolvakanties — doorgegeven aan de mobiliteitsambtenaar" in agenda
    assert "na meer dan 6 weken nog geen antwoord" in agenda
    minutes_part = agenda[agenda.index("## Signalen") :]
    assert "- [ ] #1 Gezinnen vinden geen betaalbare opvang op woensdagnamiddag" in minutes_part
    assert (
        "- [ ] #2 De bus naar het CBE rijdt niet in de schoolvakanties (doorgegeven aan de mobiliteitsambtenaar)"
        in minutes_part
    )

    # the meeting: partners write in the minutes
    written = agenda.replace("- [ ] #1 Gezinnen", "- [x] #1 Gezinnen").replace(
        "(doorgegeven aan de mobiliteitsambtenaar)\n- [ ]",
        "(doorgegeven aan de mobiliteitsambtenaar)\n"
        "- #2 antwoord De Lijn rijdt vanaf de paasvakantie ook in de vakanties\n"
        "- Huurders met een laag inkomen wachten jaren op een sociale woning — wonen — meso\n"
        "- Amira (7) krijgt thuis geen hulp bij het huiswerk — onderwijskosten\n"
        "- #99 besproken\n"
        "- [ ]",
    )
    document.write_text(written, encoding="utf-8")
    await post_agenda(p, first[1], bot.rt)

    signals = {s.number: s for s in bot.rt.store.signals(PID)}
    assert signals[1].status is Status.besproken
    assert signals[2].status is Status.antwoord and signals[2].answer.startswith("De Lijn rijdt")  # type: ignore[union-attr]
    assert signals[3].text == "Huurders met een laag inkomen wachten jaren op een sociale woning"
    assert (signals[3].theme, signals[3].level, signals[3].raised_by) == (
        "wonen",
        Level.meso,
        f"verslag {document.name[:10]}",
    )
    assert len(signals) == 3  # the case was not taken over
    assert "Amira" not in str(list(bot.rt.store.signals(PID)))

    second = next(f for f in folder.glob("*agenda en verslag.md") if f != document).read_text(encoding="utf-8")
    assert "Regels uit een vorig verslag die brug niet overnam" in second
    assert "`- #99 besproken`" in second
    case_line = written.splitlines().index("- Amira (7) krijgt thuis geen hulp bij het huiswerk — onderwijskosten") + 1
    assert f"{document.relative_to(bot.rt.files.root / PID)}, regel {case_line}" in second  # type: ignore[attr-defined]
    assert "Amira" not in second  # the refused text is not repeated
    assert "3. Huurders met een laag inkomen" in second  # the new signal is on this agenda to discuss
    assert "**Signalen die op antwoord wachten**" not in second  # signal 2 got its answer

    # reading the same minutes again changes nothing and raises nothing twice
    from brug.app.minutes import read_minutes

    await read_minutes(p, bot.rt)
    assert [s.number for s in bot.rt.store.signals(PID)] == [1, 2, 3]


def test_the_store_keeps_signals_on_both_engines(state_url: str) -> None:
    from brug.store import Store

    store = Store(state_url)
    number, new = store.add_signal(
        PID,
        text="Geen bus na 18 uur",
        theme="mobiliteit",
        level="meso",
        raised_by="An",
        organisation="OCMW",
        at=NOW,
        origin="matrix:$a",
    )
    assert (number, new) == (1, True)
    assert store.add_signal(
        PID,
        text="Geen bus na 18 uur",
        theme="mobiliteit",
        level=None,
        raised_by="An",
        organisation=None,
        at=NOW,
        origin="matrix:$a",
    ) == (1, False)  # the same message once
    later = NOW + timedelta(days=3)
    values = {"status": Status.doorgegeven, "forwarded_to": "De Lijn", "forwarded_at": later}
    assert store.update_signal(PID, 1, values, event="doorgegeven", note="De Lijn", by="An", at=later, origin="m:$b")
    assert not store.update_signal(
        PID, 1, values, event="doorgegeven", note="De Lijn", by="An", at=later, origin="m:$b"
    )
    [signal] = store.signals(PID)
    assert (signal.status, signal.forwarded_to, signal.forwarded_at, signal.level) == (
        Status.doorgegeven,
        "De Lijn",
        later,
        Level.meso,
    )
    assert [e.status for e in signal.events] == [Status.nieuw, Status.doorgegeven]
    assert store.signals_digest(PID)[0] == 2 and store.signals(PID, open_only=True) == [signal]
    store.forget(PID)
    assert store.signals(PID) == [] and store.signals_digest(PID) == [0, 0]
    store.close()
