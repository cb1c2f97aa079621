"""Signals to policy from real Matrix clients on a real Synapse: raised, refused, moved, on the agenda, logged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from brug.app.jobs import post_agenda
from brug.content.library import load_library
from brug.devservers.synapse import LocalSynapse
from brug.domain.signals import Status
from tests.matrix.world import NOW, Partner, World, bot_messages, listening_bot, room_of, unique

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def library():  # type: ignore[no-untyped-def]
    return load_library()


@pytest.fixture
async def world(synapse: LocalSynapse, tmp_path: Path, library) -> AsyncIterator[World]:  # type: ignore[no-untyped-def]
    (tmp_path / "partnerschappen").mkdir()
    yield World(synapse, synapse.register(unique("brug"), "pw"), tmp_path, library)


@pytest.fixture
async def partners(synapse: LocalSynapse) -> AsyncIterator[list[Partner]]:
    people = [Partner(synapse, synapse.register(unique(name), "pw")) for name in ("an", "bert")]
    yield people
    for person in people:
        await person.close()


def replies(events: list[dict], bot_id: str) -> dict[str, str]:  # type: ignore[type-arg]
    """brug's answers by the event they answer (brug replies in a thread)."""
    return {
        e["content"]["m.relates_to"]["event_id"]: e["content"]["body"]
        for e in bot_messages(events, bot_id)
        if "m.relates_to" in e["content"]
    }


async def test_signals_from_matrix_clients(world: World, partners: list[Partner]) -> None:
    an, bert = partners
    pid = "signalen-mx"
    members = [("An", an.user_id, True), ("Bert", bert.user_id, False)]
    bot = await listening_bot(world, pid, "Signalen in Matrix", members, an)
    await bert.accept_invites()
    algemeen, overleg, reflectie = (room_of(bot, pid, key) for key in ("algemeen", "overleg", "reflectie"))
    bot_id = world.bot_account.user_id

    # three signals, each in another room, and one that reads like a child's case
    matrix = world.matrix(bot)
    first = await an.say(
        algemeen, "!signaal Meerdere gezinnen kunnen de schoolreis niet betalen #onderwijskosten #meso"
    )
    assert await matrix.sync_once(bot.handle) == 1
    second = await bert.say(overleg, "!signaal De bus van lijn 5 vertrekt voor de naschoolse opvang sluit #mobiliteit")
    assert await matrix.sync_once(bot.handle) == 1
    third = await an.say(reflectie, "!signaal Gezinnen wachten maanden op een eerste gesprek bij het CAW")
    case = await bert.say(overleg, "!signaal Amira (7) komt elke dag zonder ontbijt naar school")
    assert await matrix.sync_once(bot.handle) == 2
    said = {**replies(await an.timeline(algemeen), bot_id), **replies(await an.timeline(overleg), bot_id)}
    said |= replies(await an.timeline(reflectie), bot_id)
    assert "Signaal 1 genoteerd" in said[first] and "Onderwijskosten" in said[first] and "meso" in said[first]
    assert "Signaal 2 genoteerd" in said[second] and "Mobiliteit" in said[second]
    assert "Signaal 3 genoteerd" in said[third] and "Toegankelijkheid van hulp (door brug voorgesteld)" in said[third]
    refusal = said[case]
    assert "Dit bewaar ik niet" in refusal and "een naam met een leeftijd" in refusal and "niets opgeslagen" in refusal
    assert "!signaal" in refusal and "Amira" not in refusal  # how to write a pattern, without repeating the case
    assert [s.number for s in bot.rt.store.signals(pid)] == [1, 2, 3]

    # statuses move, from both partners
    moves = [
        (an, "!signaal 1 besproken", "*besproken*"),
        (an, "!signaal 1 doorgegeven aan de schepen van onderwijs", "*doorgegeven* (aan de schepen van onderwijs)"),
        (bert, "!signaal 2 doorgegeven aan De Lijn", "*doorgegeven* (aan De Lijn)"),
        (bert, "!signaal 2 antwoord De Lijn onderzoekt een latere rit", "*antwoord ontvangen*"),
        (an, "!signaal 3 niveau macro", "niveau macro"),
    ]
    sent = [(await who.say(overleg, text), expected) for who, text, expected in moves]
    listing = await bert.say(overleg, "!signalen")
    assert await matrix.sync_once(bot.handle) == len(moves) + 1
    said = replies(await an.timeline(overleg), bot_id)
    for event, expected in sent:
        assert expected in said[event], (expected, said[event])
    assert said[listing].index("*nieuw*") < said[listing].index("3. Gezinnen wachten")
    assert said[listing].index("*doorgegeven*") < said[listing].index("1. Meerdere gezinnen")
    status = {s.number: s.status for s in bot.rt.store.signals(pid)}
    assert status == {1: Status.doorgegeven, 2: Status.antwoord, 3: Status.nieuw}

    # the log document in the workspace, brought up to date by the commands themselves
    log = (world.folder / "werkruimte" / pid / "signalen.md").read_text(encoding="utf-8")
    assert log.index("## Nieuw (1)") < log.index("### 3. Gezinnen wachten") < log.index("## Doorgegeven (1)")
    assert (
        log.index("## Doorgegeven (1)") < log.index("### 1. Meerdere gezinnen") < log.index("## Antwoord ontvangen (1)")
    )
    assert "- **Doorgegeven aan:** de schepen van onderwijs op maandag 23 november 2026" in log
    assert "- **Antwoord** (maandag 23 november 2026): De Lijn onderzoekt een latere rit" in log
    assert "- **Gemeld:** maandag 23 november 2026 door Bert (Organisatie 1)" in log
    assert "- **Thema:** Toegankelijkheid van hulp · **niveau:** macro" in log

    # the agenda of a meeting seven weeks on: new signals to bundle, and the one still without an answer
    p = bot.partnerships()[pid]
    meeting = p.meeting_times(NOW + timedelta(weeks=7), 1)[0]
    await post_agenda(p, meeting, bot.rt)
    posted = [e["content"]["body"] for e in bot_messages(await bert.timeline(overleg), bot_id)]
    agenda = next(body for body in posted if body.startswith("# Overleg"))
    assert agenda.index("Signalen: bespreken en bundelen") < agenda.index("3. Gezinnen wachten maanden")
    assert "Signalen die op antwoord wachten" in agenda
    assert "1. Meerdere gezinnen kunnen de schoolreis niet betalen — doorgegeven aan de schepen van onderwijs" in agenda
    assert "De bus van lijn 5" not in agenda  # answered: nothing to chase
    document = next((world.folder / "werkruimte" / pid / "overleg").glob("*agenda en verslag.md")).read_text("utf-8")
    minutes = document[document.index("## Signalen") :]
    assert "- [ ] #3 Gezinnen wachten maanden op een eerste gesprek bij het CAW" in minutes
    assert (
        "- [ ] #1 Meerdere gezinnen kunnen de schoolreis niet betalen (doorgegeven aan de schepen van onderwijs)"
        in minutes
    )

    # nothing of the refused case anywhere brug keeps things
    with bot.rt.store.engine.connect() as conn:
        stored = [
            str(row) for table in ("signals", "signal_events") for row in conn.exec_driver_sql(f"SELECT * FROM {table}")
        ]
    assert not any("Amira" in row for row in stored)
    assert not any("Amira" in f.read_text("utf-8") for f in (world.folder / "werkruimte").rglob("*") if f.is_file())
    await bot.rt.close()
